"""--track: TensorBoard event files and an MLflow store holding every stage's metrics and the final table. Each
tracker is an optional package (the `track` extra): its test skips when it is not installed."""


import pytest

from kdistill.cli import main
from kdistill.errors import ConfigError
from kdistill.tracking import check_trackers, log_run


def test_tensorboard_gets_every_stage_per_epoch_and_the_final_table(report_run):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, report = report_run
    folder = log_run(run_dir, ["tensorboard"])["tensorboard"]
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for stage in ("teacher", "baseline", "distilled"):
        points = events.Scalars(f"{stage}/val_accuracy")
        assert [point.step for point in points] == [1, 2]
        assert points[-1].value == pytest.approx(report["histories"][stage][-1]["val_accuracy"])
    assert events.Scalars("test/distilled/accuracy")[0].value == pytest.approx(report["models"]["distilled"]["accuracy"])
    assert {"test/teacher/latency_ms_b1", "test/baseline/errors"} <= tags
    log_run(run_dir, ["tensorboard"])  # logged again (e.g. after a resume): one series, not two
    events = EventAccumulator(str(folder))
    events.Reload()
    assert len(events.Scalars("distilled/val_accuracy")) == 2


def test_mlflow_store_holds_the_run(report_run):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    run_dir, report = report_run
    store = log_run(run_dir, ["mlflow"])["mlflow"]
    log_run(run_dir, ["mlflow"])  # again: the earlier MLflow run is replaced
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("kdistill")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    history = client.get_metric_history(run.info.run_id, "distilled.val_accuracy")
    assert [metric.step for metric in history] == [1, 2]
    assert run.data.metrics["test.distilled.accuracy"] == pytest.approx(report["models"]["distilled"]["accuracy"])
    assert run.data.params["distill.method_args.temperature"] == "20.0"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.json", "report.html"} <= artifacts


def test_an_unknown_tracker_or_missing_package_is_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="unknown tracker 'wandb'"):
        check_trackers(["wandb"])
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"--track mlflow needs the mlflow package; .*kdistill\[track\]"):
        check_trackers(["mlflow"])


def test_trackers_are_off_by_default_and_one_flag_turns_them_on(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path / "run"
    fast = ["data.dataset=digits", "data.val_size=200", "teacher.train.epochs=1", "student.train.epochs=1",
            "teacher.model_args.hidden=[16]", "student.model_args.hidden=[8]", "teacher.model_args.max_norm=null",
            "report.latency_repeats=1", "report.latency_batch_sizes=[1]", "report.plots=false"]
    assert main(["run", "quick", *fast, "--run-dir", str(run_dir)]) == 0
    assert not (run_dir / "tensorboard").exists() and not (run_dir / "mlflow.db").exists()
    assert main(["run", "--resume", str(run_dir), "--track", "tensorboard"]) == 0  # finished stages are reused
    assert any((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert f"tensorboard: {run_dir / 'tensorboard'}" in capsys.readouterr().out
