"""The trained student back out of a run directory: rebuilt from RUN_DIR/model.json, weights loaded, eval mode."""

import pytest
import torch

import kdistill
from kdistill.config import load_recipe
from kdistill.data import ArrayLoader, load_dataset
from kdistill.errors import CheckpointError, ConfigError
from kdistill.evaluation import classification_metrics, predict_logits
from kdistill.experiment import run_experiment

FAST = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=1", "student.train.epochs=1",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0", "report.latency_repeats=1", "report.latency_batch_sizes=[1]", "report.plots=false",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("load") / "run"
    report = run_experiment(load_recipe("quick", FAST), run_dir)
    return run_dir, report


def test_load_student_reproduces_the_reported_accuracy(finished_run):
    run_dir, report = finished_run
    digits = load_dataset("digits")
    test = ArrayLoader(digits.test_images, digits.test_labels, 1000, shuffle=False)
    for stage in ("distilled", "baseline", "teacher"):
        model = kdistill.load_student(run_dir, stage)
        assert not model.training and model.class_names == [str(d) for d in range(10)]
        accuracy = classification_metrics(*predict_logits(model, test))["accuracy"]
        assert accuracy == pytest.approx(report["models"][stage]["accuracy"])
    default = kdistill.load_student(run_dir)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(),
                                                 kdistill.load_student(run_dir, "distilled").state_dict().values()))


def test_load_student_errors_name_the_fix(finished_run, tmp_path):
    run_dir, _ = finished_run
    with pytest.raises(CheckpointError, match="no finished finetuned stage"):
        kdistill.load_student(run_dir, "finetuned")
    with pytest.raises(ConfigError, match="unknown stage"):
        kdistill.load_student(run_dir, "best")
    with pytest.raises(ConfigError, match="not a kdistill run directory"):
        kdistill.load_student(tmp_path)
