"""`kdistill tune` on digits: the study folder, the shared teacher, best.yaml, continuing a study - and the test split,
which no trial may read (the dataset's test arrays are replaced by tripwires for the whole study)."""

import dataclasses
import json

import pytest

pytest.importorskip("optuna")

import optuna  # noqa: E402

import kdistill  # noqa: E402
from kdistill.cli import main  # noqa: E402
from kdistill.config import load_recipe  # noqa: E402
from kdistill.errors import ConfigError  # noqa: E402
from kdistill.experiment import run_experiment  # noqa: E402
from kdistill.experiment import splits as splits_module  # noqa: E402
from kdistill.tuning.study import STORAGE_FILE, study_lock  # noqa: E402
from kdistill.tuning.trial import TrialRunner  # noqa: E402

TINY = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=2", "student.train.epochs=3",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0", "report.latency_repeats=1", "report.latency_batch_sizes=[1]", "report.plots=false",
]


class Tripwire:
    """Stands in for the test arrays: any use is recorded and fails loudly (not a KdistillError, which a study
    would count as one failed trial and carry on)."""

    touched: list = []

    def _trip(self, *args, **kwargs):
        Tripwire.touched.append(args)
        raise RuntimeError("the test split was read")

    def __getattr__(self, name):
        return self._trip(name)

    __len__ = __getitem__ = __iter__ = __array__ = _trip

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        Tripwire.touched.append(func)
        raise RuntimeError("the test split was read")


def tripwired_test_split(monkeypatch):
    real = splits_module.load_dataset

    def load(name, *args, **kwargs):
        return dataclasses.replace(real(name, *args, **kwargs), test_images=Tripwire(), test_labels=Tripwire())

    monkeypatch.setattr(splits_module, "load_dataset", load)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune") / "study"
    Tripwire.touched = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        tripwired_test_split(monkeypatch)
        result = kdistill.tune("quick", TINY, trials=4, study_dir=folder)
    return result


def test_tuning_never_reads_the_test_split(study, monkeypatch):
    assert Tripwire.touched == [] and study.best_value > 0
    tripwired_test_split(monkeypatch)  # control: the tripwire catches a pipeline that does read it
    with pytest.raises(RuntimeError, match="test split was read"):
        run_experiment(load_recipe("quick", TINY), study.study_dir.parent / "control-run")


def test_the_best_recipe_is_a_recipe_with_the_best_trials_values(study):
    best = load_recipe(str(study.best_recipe))
    assert best.name == "quick-tuned" and f"trial {study.best_trial}" in best.description
    assert best.distill.method_args["temperature"] == pytest.approx(study.best_params["distill.method_args.temperature"])
    assert best.student.train.lr == pytest.approx(study.best_params["student.train.lr"])
    summary = json.loads((study.study_dir / "summary.json").read_text())
    assert summary["best"]["value"] == max(row["value"] for row in summary["trials"] if row["state"] == "COMPLETE")
    assert len(summary["trials"]) == 4 and (study.study_dir / "summary.md").is_file()
    if summary["importances"]:
        assert (study.study_dir / "importance.png").read_bytes().startswith(b"\x89PNG")


def test_the_first_trial_runs_the_recipes_own_values(study):
    summary = json.loads((study.study_dir / "summary.json").read_text())
    first = summary["trials"][0]
    assert first["recipe_values"] and first["params"]["distill.method_args.temperature"] == 20.0
    assert first["params"]["student.train.lr"] == pytest.approx(0.05)


def test_the_teacher_is_trained_once_in_the_shared_folder(study):
    assert (study.study_dir / "shared" / "teacher" / "done.json").is_file()
    trials = sorted((study.study_dir / "trials").iterdir())
    assert len(trials) == 4
    for folder in trials:
        assert not (folder / "teacher").exists() and not (folder / "baseline").exists()
        assert (folder / "distilled" / "metrics.jsonl").is_file()


def test_rerunning_with_more_trials_extends_the_study_without_retraining(study):
    teacher_done = study.study_dir / "shared" / "teacher" / "done.json"
    before = teacher_done.stat().st_mtime_ns
    result = kdistill.tune("quick", TINY, trials=5, study_dir=study.study_dir)
    assert len(result.summary["trials"]) == 5 and teacher_done.stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="study of another recipe .*seed: 0 -> 1"):
        kdistill.tune("quick", [*TINY, "seed=1"], trials=5, study_dir=study.study_dir)
    with pytest.raises(ConfigError, match="searched"):
        kdistill.tune("quick", TINY, trials=5, study_dir=study.study_dir, search=["temperature"])


def test_a_second_driver_on_the_same_study_is_refused(study):
    with study_lock(study.study_dir), pytest.raises(ConfigError, match="another `kdistill tune` is working on"), \
            study_lock(study.study_dir):
        pass


def test_the_cli_continues_a_study_and_prints_the_best(study, capsys):
    before = sorted((study.study_dir / "trials").iterdir())
    assert main(["tune", "--resume", str(study.study_dir)]) == 0  # --trials: what the study recorded
    assert sorted((study.study_dir / "trials").iterdir()) == before
    out = capsys.readouterr().out
    assert "best: trial" in out and "best.yaml" in out and "recipe's own values (trial 0)" in out
    assert main(["tune", "quick", "--space", "distill.method_args.temperature=log:1"]) == 2
    assert "KEY=log:LOW:HIGH" in capsys.readouterr().err


def test_a_trial_below_the_median_is_pruned_after_its_epoch():
    reported = []

    class Trial:
        def report(self, value, step):
            reported.append((step, value))

        def should_prune(self):
            return True

    check = TrialRunner.pruning_check(Trial(), optuna)
    with pytest.raises(optuna.TrialPruned, match="after epoch 2"):
        check({"epoch": 2, "val_accuracy": 0.5})
    assert reported == [(2, 0.5)]


def test_a_recipe_error_is_one_line_before_the_study_folder_is_written(tmp_path):
    with pytest.raises(ConfigError, match="val_size must be between"):
        kdistill.tune("quick", [*TINY, "data.val_size=0"], trials=1, study_dir=tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_storage_is_sqlite_in_the_study_folder(study):
    loaded = optuna.load_study(study_name="kdistill", storage=f"sqlite:///{study.study_dir / STORAGE_FILE}")
    assert loaded.best_trial.number == study.best_trial or len(loaded.trials) >= 4


def test_a_teacher_cache_is_built_once_for_every_trial(tmp_path):
    result = kdistill.tune("quick", [*TINY, "distill.cache.enabled=true"], trials=2, study_dir=tmp_path / "cached")
    assert (result.study_dir / "shared" / "teacher-cache").is_dir()
    assert not list((result.study_dir / "trials").glob("*/teacher-cache"))
