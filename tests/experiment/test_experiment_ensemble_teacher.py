"""`teacher.members`: an ensemble teacher in `kdistill run` - members trained apart, their average distilled."""

import json

import torch

from kdistill.cache import TeacherCache
from kdistill.cli import main
from kdistill.config import load_recipe
from kdistill.experiment.splits import prepare_data
from kdistill.models import AveragedEnsemble, build_model
from kdistill.training import load_weights

TINY = ["data.dataset=digits", "data.val_size=100", "data.train_limit=300", "teacher.train.epochs=1",
        "student.train.epochs=1", "teacher.model_args={hidden: [32]}", "student.model_args={hidden: [16]}",
        "report.plots=false", "report.latency_repeats=1"]


def test_an_ensemble_teacher_trains_its_members_and_is_distilled(tmp_path):
    """teacher.members=3: three member stages with different weights; the student distils their average."""
    torch.set_num_threads(1)
    assert main(["run", "quick", *TINY, "teacher.members=3", "--run-dir", str(tmp_path)]) == 0
    members = [json.loads((tmp_path / folder / "done.json").read_text()) for folder in
               ("teacher", "teacher-2", "teacher-3")]
    assert len(members) == 3
    weights = [load_weights(tmp_path / folder / "student.safetensors") for folder in ("teacher", "teacher-2")]
    assert not all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])  # different seeds
    report = json.loads((tmp_path / "report.json").read_text())
    single = sum(value.numel() for value in weights[0].values())
    assert report["models"]["teacher"]["params"] == 3 * single
    assert any("ensemble of 3" in note for note in report["notes"])


def test_a_feature_method_with_an_ensemble_is_refused_before_training(tmp_path):
    assert main(["run", "features-fashion", "teacher.members=2", "--run-dir", str(tmp_path)]) == 2
    assert not (tmp_path / "teacher").exists()


def test_a_cached_ensemble_serves_the_average_at_the_method_temperature(tmp_path):
    torch.set_num_threads(1)
    # members trained long enough to be confident, so averaging at T = 1 and at T = 4 give different targets
    overrides = [*TINY, "teacher.members=2", "teacher.train.epochs=15", "teacher.train.batch_size=16",
                 "distill.cache.enabled=true", "distill.method_args.temperature=4"]
    assert main(["run", "quick", *overrides, "--run-dir", str(tmp_path)]) == 0
    recipe = load_recipe("quick", overrides)
    data = prepare_data(recipe.data, recipe.seed)
    members = []
    for folder in ("teacher", "teacher-2"):
        member = build_model("mlp", data.input_shape, 10, hidden=[32]).eval()
        member.load_state_dict(load_weights(tmp_path / folder / "student.safetensors"))
        members.append(member)
    with torch.no_grad():
        expected = AveragedEnsemble(members, temperature=4.0)(data.train_images[:20])
    served = TeacherCache(tmp_path / "teacher-cache").logits(torch.arange(20), torch.zeros(20, dtype=torch.long))
    # softmax(z / 4) of what the cache serves is the members' mean distribution at T = 4 (fp16 storage)
    torch.testing.assert_close(torch.softmax(served / 4, -1), torch.softmax(expected / 4, -1), atol=2e-3, rtol=0)
