"""AutoGluon 1.6.3 ``TabularPredictor(...).fit(...).distill()`` on the tabular suite's own splits of adult and california.

Runs in its own venv (AutoGluon is never a kdistill dependency) and never imports kdistill::

    python3 -m venv /work/ag-venv && /work/ag-venv/bin/pip install 'torch==2.13.0' 'autogluon.tabular[lightgbm]==1.6.3'
    OMP_NUM_THREADS=1 nohup /work/ag-venv/bin/python benchmarks/autogluon_side_by_side.py &

It reads the split that ``tabular_suite.py`` wrote (``results/tabular_splits/<table>-seed<k>.{npz,json}``: row
positions into kdistill's cached parquet table, whose sha256 is checked here), fits AutoGluon (medium_quality,
``FIT_TIME_LIMIT`` s, one CPU), distils it into GBM / NN_TORCH / RF students (``DISTILL_TIME_LIMIT`` s, AutoGluon's
default spunge augmentation), and records for the teacher (AutoGluon's best model) and every distilled model: test
AUC/accuracy or R²/RMSE, CPU ms per 1k rows (1k-row batches, models timed in turns, median and p10-p90), size on disk
of ``clone_for_deployment`` for that model alone, fit time. ``results/tabular_autogluon.md`` puts AutoGluon's chosen
distilled student (best validation score) next to kdistill's best student whose latency is no higher, read from
``results/tabular_suite.json`` (same table, same seed, same test rows).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import hashlib
import json
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from autogluon_report import write_markdown
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score, roc_auc_score

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPLITS_DIR = RESULTS_DIR / "tabular_splits"
RESULTS = RESULTS_DIR / "tabular_autogluon.json"
DATASETS = ("adult", "california_housing")
SEEDS = (0,)
FIT_TIME_LIMIT = 480  # seconds of wall clock on a machine shared by ~16 processes
DISTILL_TIME_LIMIT = 480
STUDENTS = {"GBM": {}, "NN_TORCH": {}, "RF": {}}  # distill() supports GBM, NN_TORCH, RF and CAT (not installed)
LATENCY_ROWS, LATENCY_REPEATS = 1000, 9


def data_dir() -> Path:
    configured = os.environ.get("KDISTILL_DATA_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "kdistill" / "data"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_split(name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    stem = SPLITS_DIR / f"{name}-seed{seed}"
    if not stem.with_suffix(".json").exists():
        raise SystemExit(f"{stem}.json is missing: run benchmarks/tabular_suite.py --tables {name} --seeds {seed} first")
    meta = json.loads(stem.with_suffix(".json").read_text())
    parquet = data_dir() / "tabular" / "suite" / meta["parquet"]
    if sha256_file(parquet) != meta["parquet_sha256"]:
        raise SystemExit(f"{parquet} differs from the table the kdistill side split (sha256 mismatch); rerun the suite")
    frame = pd.read_parquet(parquet)
    indices = np.load(stem.with_suffix(".npz"))
    return frame.iloc[indices["train"]], frame.iloc[indices["test"]], meta


def metrics(predictor, model: str, test: pd.DataFrame, meta: dict) -> dict:
    y = test[meta["target"]]
    X = test.drop(columns=[meta["target"]])
    if meta["task"] == "classification":
        proba = predictor.predict_proba(X, model=model)
        positive = predictor.positive_class
        return {"auc": float(roc_auc_score(y == positive, proba[positive])),
                "accuracy": float(accuracy_score(y, proba.idxmax(axis=1)))}
    predicted = predictor.predict(X, model=model)
    return {"r2": float(r2_score(y, predicted)), "rmse": float(np.sqrt(mean_squared_error(y, predicted)))}


def interleaved_latency(predictor, models: list[str], test: pd.DataFrame, meta: dict, seed: int) -> dict:
    """CPU ms per 1k rows (process_time; the kdistill side measures the same way), models timed in turns."""
    rng = np.random.default_rng(seed)
    X = test.drop(columns=[meta["target"]])
    batch = X.iloc[rng.choice(len(X), LATENCY_ROWS, replace=len(X) < LATENCY_ROWS)]
    predict = predictor.predict_proba if meta["task"] == "classification" else predictor.predict
    cpu: dict[str, list[float]] = {m: [] for m in models}
    wall: dict[str, list[float]] = {m: [] for m in models}
    scale = 1000.0 * 1000 / LATENCY_ROWS
    for repeat in range(LATENCY_REPEATS + 1):
        for model in models[repeat % len(models):] + models[:repeat % len(models)]:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            predict(batch, model=model)
            if repeat:  # first turn: warm-up (lazy model loading)
                cpu[model].append((time.process_time() - cpu_start) * scale)
                wall[model].append((time.perf_counter() - wall_start) * scale)
    return {m: {"latency_ms_per_1k": float(np.median(cpu[m])), "latency_p10": float(np.percentile(cpu[m], 10)),
                "latency_p90": float(np.percentile(cpu[m], 90)), "wall_ms_per_1k": float(np.median(wall[m]))}
            for m in models}


def deployed_size_bytes(predictor, model: str, folder: Path) -> int:
    """Bytes on disk of a predictor clone holding only ``model`` (and what it needs): what one would ship."""
    target = folder / f"deploy-{model}"
    predictor.clone_for_deployment(path=str(target), model=model, dirs_exist_ok=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    shutil.rmtree(target)
    return size


def run_cell(name: str, seed: int, students: dict, fit_limit: float, distill_limit: float) -> dict:
    from autogluon.tabular import TabularPredictor

    train, test, meta = load_split(name, seed)
    with tempfile.TemporaryDirectory() as folder:
        eval_metric = "roc_auc" if meta["task"] == "classification" else "r2"
        predictor = TabularPredictor(label=meta["target"], eval_metric=eval_metric, path=f"{folder}/ag", verbosity=1)
        started = time.perf_counter()
        predictor.fit(train, presets="medium_quality", time_limit=fit_limit, num_cpus=1)
        fit_seconds = time.perf_counter() - started
        teacher = predictor.model_best  # before distill(): a distilled model could become "best" afterwards
        started = time.perf_counter()
        distilled = predictor.distill(time_limit=distill_limit, hyperparameters=students)
        distill_seconds = time.perf_counter() - started
        board = predictor.leaderboard(test, silent=True).set_index("model")
        models = [teacher, *distilled]
        latency = interleaved_latency(predictor, models, test, meta, seed)
        rows = {model: {**metrics(predictor, model, test, meta), **latency[model],
                        "score_val": float(board.loc[model, "score_val"]), "fit_time": float(board.loc[model, "fit_time"]),
                        "size_bytes": deployed_size_bytes(predictor, model, Path(folder))} for model in models}
        chosen = max(distilled, key=lambda model: rows[model]["score_val"])
        return {"dataset": name, "seed": seed, "task": meta["task"], "n_train": len(train), "n_test": len(test),
                "teacher_model": teacher, "distilled_models": distilled, "chosen_distilled": chosen, "models": rows,
                "all_models_trained": board.index.tolist(), "fit_seconds": fit_seconds,
                "distill_seconds": distill_seconds,
                "settings": {"presets": "medium_quality", "fit_time_limit": fit_limit,
                             "distill_time_limit": distill_limit, "students": students, "num_cpus": 1,
                             "augment": "spunge (default), size_factor 5"},
                "provenance": {"autogluon": version("autogluon.tabular"), "lightgbm": version("lightgbm"),
                               "torch": version("torch"), "pandas": version("pandas"), "python": platform.python_version(),
                               "cores": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                               "load_average": os.getloadavg(), "table_sha256": meta["table_sha256"],
                               "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}}


def save(results: dict) -> None:
    """Merge with cells other processes wrote meanwhile (ours win), then replace the file atomically, under a lock."""
    import fcntl

    with open(RESULTS.with_name(f".{RESULTS.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        on_disk = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"cells": {}}
        results["cells"] = {**on_disk["cells"], **results["cells"]}
        tmp = RESULTS.with_name(f".{RESULTS.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(results, indent=1, sort_keys=True))
        os.replace(tmp, RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS),
                        help="distill() students; a non-default list is its own cell (name|seed|students|limits)")
    parser.add_argument("--fit-time-limit", type=float, default=FIT_TIME_LIMIT)
    parser.add_argument("--distill-time-limit", type=float, default=DISTILL_TIME_LIMIT)
    parser.add_argument("--report", action="store_true", help="only rewrite results/tabular_autogluon.md")
    args = parser.parse_args(argv)
    students = {key: STUDENTS[key] for key in args.students}
    default = (students == STUDENTS and args.fit_time_limit == FIT_TIME_LIMIT
               and args.distill_time_limit == DISTILL_TIME_LIMIT)
    suffix = "" if default else f"|{'+'.join(students)}|{args.fit_time_limit:g}s+{args.distill_time_limit:g}s"
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"cells": {}}
    if not args.report:
        for name in args.datasets:
            for seed in args.seeds:
                if f"{name}|{seed}{suffix}" in results["cells"]:
                    continue
                results["cells"][f"{name}|{seed}{suffix}"] = cell = run_cell(name, seed, students, args.fit_time_limit,
                                                                          args.distill_time_limit)
                save(results)
                print(f"{name} seed {seed}: chosen {cell['chosen_distilled']} "
                      f"{ {k: round(v, 4) for k, v in cell['models'][cell['chosen_distilled']].items()} }", flush=True)
    suite = RESULTS_DIR / "tabular_suite.json"
    search = RESULTS_DIR / "tabular_autogluon_kdistill.json"
    write_markdown(results, json.loads(suite.read_text()) if suite.exists() else {"cells": {}},
                   RESULTS.with_suffix(".md"), json.loads(search.read_text()) if search.exists() else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
