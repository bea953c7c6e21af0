"""Methods without a pre-trained teacher (dml, byot) in `kdistill run`: no teacher stage, student-alone comparison."""

import json

import pytest
import torch

from kdistill.cli import main
from kdistill.strategies import STRATEGIES, uses_teacher

TINY = ["data.dataset=digits", "data.val_size=100", "data.train_limit=300", "student.train.epochs=1",
        "report.latency_repeats=1"]


def test_only_online_and_self_distillation_are_teacher_free():
    free = {name for name in STRATEGIES.names() if not uses_teacher(name)}
    assert free == {"dml", "byot", "supervised"}


@pytest.mark.parametrize("method, student", [
    ("dml", ["student.model=mlp", "student.model_args={hidden: [16]}"]),
    ("byot", ["student.model=cnn", "student.model_args={channels: [4, 8, 8], hidden: 16}",
              "distill.method_args={exit_layers: [features.3, features.7], feature_layer: features.11}"]),
])
def test_a_teacher_free_method_trains_no_teacher(tmp_path, method, student):
    torch.set_num_threads(1)
    overrides = [*TINY, f"distill.method={method}", "distill.method_args={}", *student]
    assert main(["run", "quick", *overrides, "--run-dir", str(tmp_path)]) == 0
    assert not (tmp_path / "teacher").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report["models"]) == ["baseline", "distilled"]
    assert report["models"]["distilled"].get("agreement") is None  # nothing to agree with
    assert any("no pre-trained teacher" in note for note in report["notes"])
    assert (tmp_path / "confusion.png").exists()  # the student against the student trained alone


def test_a_teacher_cache_for_a_teacher_free_method_is_refused(tmp_path):
    assert main(["run", "quick", *TINY, "distill.method=dml", "distill.method_args={}", "distill.cache.enabled=true",
                 "--run-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "baseline").exists()


def test_cache_build_for_a_teacher_free_method_is_refused(tmp_path, capsys):
    assert main(["cache", "build", "dml-mnist", "--run-dir", str(tmp_path)]) == 2
    assert "no pre-trained teacher" in capsys.readouterr().err
