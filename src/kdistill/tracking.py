"""Optional experiment trackers behind one flag (``kdistill run --track tensorboard --track mlflow``), off by default.

After a run, every stage's per-epoch metrics (as in its metrics.jsonl), the final table (each model's test metrics)
and the resolved recipe are logged, read from the run folder, so a resumed run logs its whole history once:

- TensorBoard: event files in RUN_DIR/tensorboard (``tensorboard --logdir RUN_DIR/tensorboard``): scalars
  ``<stage>/<metric>`` per epoch, ``test/<model>/<metric>``, and report.md as text.
- MLflow: a local store, RUN_DIR/mlflow.db (SQLite; MLflow 3 keeps its plain-file store in maintenance mode) with
  artifacts in RUN_DIR/mlartifacts (``mlflow ui --backend-store-uri sqlite:///RUN_DIR/mlflow.db``): one MLflow run
  per kdistill run, params = the flattened recipe, metrics ``<stage>.<metric>`` per epoch and ``test.<model>.<metric>``,
  artifacts report.md / report.json / report.html.

Both need the ``track`` extra (``pip install 'kdistill[track]'``); a missing package is a one-line error.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from kdistill.errors import ConfigError

TRACKERS = ("tensorboard", "mlflow")
TRACK_EXTRA_HINT = "install the track extra: pip install 'kdistill[track]'"
TEST_METRICS = ("accuracy", "errors", "nll", "ece", "agreement", "params", "flops_per_sample", "size_bytes")


def log_run(run_dir: str | Path, trackers: list[str] | tuple[str, ...]) -> dict[str, Path]:
    """Log the finished run in ``run_dir`` to each tracker; returns {tracker: where it wrote}."""
    from kdistill.evaluation.report import load_report

    unknown = sorted(set(trackers) - set(TRACKERS))
    if unknown:
        raise ConfigError(f"unknown tracker '{unknown[0]}'; choose from {', '.join(TRACKERS)}")
    run_dir = Path(run_dir)
    report = load_report(run_dir)
    stages = stage_histories(run_dir, report)
    writers = {"tensorboard": log_tensorboard, "mlflow": log_mlflow}
    return {name: writers[name](run_dir, report, stages) for name in dict.fromkeys(trackers)}


def check_trackers(trackers: list[str] | tuple[str, ...]) -> None:
    """Before a run starts: each tracker's package is installed (else one line naming the extra)."""
    from importlib.util import find_spec

    for name in dict.fromkeys(trackers):
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker '{name}'; choose from {', '.join(TRACKERS)}")
        if find_spec(name) is None:
            raise ConfigError(f"--track {name} needs the {name} package; {TRACK_EXTRA_HINT}")


def stage_histories(run_dir: Path, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    from kdistill.evaluation.html import histories

    return histories(report, run_dir)


def numeric(record: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a record (epoch excluded: it is the step)."""
    return {key: float(value) for key, value in record.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def final_table(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{model: {metric: value}} of the report's test metrics, latency medians included."""
    table = {}
    for name, row in report.get("models", {}).items():
        values = numeric({key: row.get(key) for key in TEST_METRICS})
        values.update({f"latency_ms_b{size}": float(ms) for size, ms in (row.get("latency_ms") or {}).items()})
        table[name] = values
    return table


def log_tensorboard(run_dir: Path, report: dict[str, Any], stages: dict[str, list[dict[str, Any]]]) -> Path:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"--track tensorboard needs the tensorboard package; {TRACK_EXTRA_HINT}") from None
    from kdistill.evaluation.report import render_markdown

    folder = run_dir / "tensorboard"
    shutil.rmtree(folder, ignore_errors=True)  # logged again from the files: no duplicate points after a resume
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for stage, records in stages.items():
            for record in records:
                for key, value in numeric(record).items():
                    writer.add_scalar(f"{stage}/{key}", value, int(record.get("epoch", 0)))
        for model, values in final_table(report).items():
            for key, value in values.items():
                writer.add_scalar(f"test/{model}/{key}", value, 0)
        writer.add_text("report", render_markdown(report), 0)
    finally:
        writer.close()
    return folder


def log_mlflow(run_dir: Path, report: dict[str, Any], stages: dict[str, list[dict[str, Any]]]) -> Path:
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"--track mlflow needs the mlflow package; {TRACK_EXTRA_HINT}") from None
    from kdistill.experiment.fingerprint import flatten

    store = run_dir.resolve() / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("kdistill")
    experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(
        "kdistill", artifact_location=(run_dir.resolve() / "mlartifacts").as_uri())
    for old in client.search_runs([experiment_id], f"tags.kdistill_run_dir = '{run_dir.resolve()}'"):
        client.delete_run(old.info.run_id)  # logged again from the files: one MLflow run per kdistill run
    run = client.create_run(experiment_id, run_name=run_dir.name,
                            tags={"kdistill_run_dir": str(run_dir.resolve()), "recipe": str(report.get("recipe"))})
    run_id, now = run.info.run_id, int(time.time() * 1000)
    params = [Param(key, str(value)[:500]) for key, value in flatten(report.get("config", {}), "").items()]
    metrics = [Metric(f"{stage}.{key}", value, now, int(record.get("epoch", 0)))
               for stage, records in stages.items() for record in records for key, value in numeric(record).items()]
    metrics += [Metric(f"test.{model}.{key}", value, now, 0)
                for model, values in final_table(report).items() for key, value in values.items()]
    for start in range(0, max(len(params), len(metrics)), 100):  # MLflow caps a batch at 100 params, 1000 metrics
        client.log_batch(run_id, metrics=metrics[start:start + 100], params=params[start:start + 100])
    for name in ("report.md", "report.json", "report.html"):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    client.set_terminated(run_id)
    return store
