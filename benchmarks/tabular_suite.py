"""Tabular suite: 20 real tables x 3 seeds x 2 student budgets - LightGBM teacher, direct student, distilled student.

For every table (``tabular_suite_tables.TABLES``, checksum-verified on load) and seed, the seed draws the subsample
(tables above ``MAX_ROWS``), the 75/25 split, the teacher and the students. Per budget the same student is trained
twice: directly on the labels (its leaf size tuned on a validation split of the training rows) and distilled from
the teacher with ``MULTIPLIER``x Gibbs synthetic rows. A cell (table x seed x budget) records test metrics of all
three models, their interleaved latency on 1k-row batches (median, p10-p90), saved sizes, fit times and its
provenance; it is written as soon as it finishes and skipped when rerun (cells of other settings are kept but
ignored). Run (about 2 h on 2 shared cores; several processes may share the results file, e.g. one per table list):

    OMP_NUM_THREADS=1 PYTHONPATH=src nohup python benchmarks/tabular_suite.py [--tables adult taxi ...] &

The summary (win rate, share of the teacher's lead recovered, speed-up) is written to
``results/tabular_suite.md`` by :mod:`tabular_suite_report`; ``--report`` only rewrites it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / LightGBM start their thread pools

import argparse
import hashlib
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, machine, save_results
from tabular_suite_cells import (
    MemoTeacher,
    describe,
    fit_direct,
    fit_distilled,
    fit_teacher,
    fit_within_budget,
    interleaved_latency,
    saved_size_bytes,
    split_indices,
)
from tabular_suite_report import write_report
from tabular_suite_tables import TABLES

from kdistill.atomic import atomic_write_bytes, atomic_write_text
from kdistill.errors import ConfigError
from kdistill.tabular.suite_tables import cached_table_path, load_suite_table

SEEDS = (0, 1, 2)
MAX_ROWS = 5_000  # larger tables are subsampled (stratified, per seed): 2 CPU cores shared by ~16 processes
TEST_SIZE = 0.25
VALIDATION_SHARE = 0.2  # of the training rows: the direct student's leaf-size choice
DIRECT_MIN_SAMPLES_LEAF = (5, 20, 50, 100)
DISTILLED_MIN_SAMPLES_LEAF = 5  # teacher outputs are smooth: small leaves do not overfit (benchmarks/tabular.md)
MULTIPLIER = 5.0
AUGMENTATION = "gibbs"
AUGMENTATION_PARAMS = {"n_rounds": 1}
# Two fixed student sizes until a latency/size budget search lands: one small tree a person can read, one large tree.
BUDGETS = {
    "small": {"student": "tree", "params": {"max_depth": 8, "max_leaf_nodes": 63}},
    "large": {"student": "tree", "params": {"max_depth": 16, "max_leaf_nodes": 1023}},
}
# The estimators' own budget search (student="tree", every size from 15 to 4095 leaves, distilled and direct, scored
# on 20% of the training rows): the best of each variant whose saved file fits the budget.
SEARCH_BUDGETS = {
    "size_64KB": {"student": "tree", "limit": {"max_size_bytes": 64_000}},  # a 15-leaf tree saves to ~50 KB
    "size_256KB": {"student": "tree", "limit": {"max_size_bytes": 256_000}},
}
MODES = ("fixed", "search", "full")
SPLIT_EXPORT = ("adult", "california_housing")  # splits the AutoGluon side-by-side reads (autogluon_side_by_side.py)
RESULTS = {"fixed": RESULTS_DIR / "tabular_suite.json", "search": RESULTS_DIR / "tabular_suite_search.json",
           "full": RESULTS_DIR / "tabular_suite_full.json"}
SPLITS_DIR = RESULTS_DIR / "tabular_splits"


def settings(mode: str = "fixed") -> dict:
    """The fixed-size settings (their hash keys the main results); the search mode swaps in the size budgets, the
    full mode keeps every row of the tables larger than ``MAX_ROWS`` (the others are the fixed mode's cells)."""
    fixed = {"seeds": list(SEEDS), "max_rows": MAX_ROWS, "test_size": TEST_SIZE, "validation_share": VALIDATION_SHARE,
            "direct_min_samples_leaf": list(DIRECT_MIN_SAMPLES_LEAF),
            "distilled_min_samples_leaf": DISTILLED_MIN_SAMPLES_LEAF, "multiplier": MULTIPLIER,
            "augmentation": AUGMENTATION, "augmentation_params": AUGMENTATION_PARAMS, "budgets": BUDGETS,
            "teacher": "kdistill TEACHERS['lightgbm'] (63 leaves, lr 0.05, up to 1000 trees, early stopping on 20% "
                       "of the training rows), n_jobs=1",
            "latency": "CPU time (process_time) per 1k-row batch, 9 interleaved repeats"}
    if mode == "full":
        # seed 0 by default (~7 CPU minutes for the 15 tables on an idle core); --seeds 1 2 adds the others
        return {**fixed, "mode": mode, "max_rows": None, "seeds": [0]}
    return fixed if mode == "fixed" else {**fixed, "mode": mode, "budgets": SEARCH_BUDGETS}


def settings_hash(mode: str = "fixed") -> str:
    return hashlib.sha256(json.dumps(settings(mode), sort_keys=True).encode()).hexdigest()[:12]


def git_commit() -> str:
    """HEAD (+dirty if code differs from it) when the process started: the code the process actually runs."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True,
                            cwd=Path(__file__).parent)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "benchmarks/*.py"], check=False,
                           capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    return result.stdout.strip() + ("+dirty" if dirty else "")


GIT_AT_LAUNCH = git_commit()


def provenance(table) -> dict:
    return {"table_member": table.member, "table_sha256": table.table_sha256, "package": table.package,
            "git": GIT_AT_LAUNCH, "machine": machine(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "versions": {name: version(name) for name in ("kdistill", "lightgbm", "scikit-learn", "numpy", "pandas")},
            "load_average": os.getloadavg(), "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def export_split(name: str, seed: int, train: np.ndarray, test: np.ndarray) -> None:
    """Row positions into the cached parquet table, for the AutoGluon side (which must not import kdistill)."""
    table = TABLES[name]
    cache = cached_table_path(table)
    SPLITS_DIR.mkdir(parents=True, exist_ok=True)
    stem = SPLITS_DIR / f"{name}-seed{seed}"
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, train=train.astype(np.int64), test=test.astype(np.int64))
    atomic_write_bytes(stem.with_suffix(".npz"), buffer.getvalue())
    sidecar = json.loads(cache.with_name(cache.name + ".json").read_text())
    atomic_write_text(stem.with_suffix(".json"), json.dumps({
        "table": name, "seed": seed, "target": table.target, "task": table.task, "parquet": cache.name,
        "parquet_sha256": sidecar["parquet_sha256"], "table_sha256": table.table_sha256,
        "n_train": len(train), "n_test": len(test)}, indent=1))


def fit_pair(mode: str, budget: str, X_train, y_train, task: str, seed: int, teacher) -> dict:
    """{"direct": (model, setup, seconds), "distilled": (...)} for one budget."""
    out = {}
    for variant in ("direct", "distilled"):
        started = time.perf_counter()
        if mode == "search":
            spec = SEARCH_BUDGETS[budget]
            model, setup = fit_within_budget(X_train, y_train, task, seed, teacher, spec["student"], spec["limit"],
                                             variant, AUGMENTATION, MULTIPLIER, AUGMENTATION_PARAMS)
        elif variant == "direct":
            model, setup = fit_direct(X_train, y_train, task, seed, BUDGETS[budget]["student"],
                                      BUDGETS[budget]["params"], DIRECT_MIN_SAMPLES_LEAF, VALIDATION_SHARE)
        else:
            params = {**BUDGETS[budget]["params"], "min_samples_leaf": DISTILLED_MIN_SAMPLES_LEAF}
            model, setup = fit_distilled(X_train, y_train, task, seed, teacher, BUDGETS[budget]["student"], params,
                                         AUGMENTATION, MULTIPLIER, AUGMENTATION_PARAMS)
        out[variant] = (model, setup, time.perf_counter() - started)
    return out


def run_seed(name: str, seed: int, budgets: list[str], results: dict, mode: str) -> None:
    table = TABLES[name]
    X, y, task = load_suite_table(table)
    max_rows = settings(mode)["max_rows"]
    if max_rows is None and len(y) <= MAX_ROWS:
        print(f"{name}: {len(y):,} rows - the fixed mode's cells already use every row", flush=True)
        return
    train, test = split_indices(y, task, seed, max_rows, TEST_SIZE)
    if name in SPLIT_EXPORT and max_rows == MAX_ROWS:  # the AutoGluon side-by-side reads the subsampled splits
        export_split(name, seed, train, test)
    X_train, X_test, y_train, y_test = X.iloc[train], X.iloc[test], y.iloc[train], y.iloc[test]
    started = time.perf_counter()
    teacher = fit_teacher(X_train, y_train, task, seed, VALIDATION_SHARE)
    teacher_seconds = time.perf_counter() - started
    memo_teacher = MemoTeacher(teacher)  # labels the shared Gibbs rows once for every fit of this seed
    teacher_row = {**describe(teacher, X_test, y_test, task), "fit_seconds": teacher_seconds,
                   "size_bytes": saved_size_bytes(teacher, "teacher")}
    for budget in budgets:
        try:
            fits = fit_pair(mode, budget, X_train, y_train, task, seed, memo_teacher)
        except ConfigError as error:  # no student size fits this budget on this table (search mode): recorded
            results["cells"][cell_key(name, seed, budget)] = {
                "dataset": name, "seed": seed, "budget": budget, "task": task, "settings_hash": settings_hash(mode),
                "infeasible": str(error), "provenance": provenance(table)}
            save_results(RESULTS[mode], results)
            print(f"{name} seed {seed} {budget}: {error}", flush=True)
            continue
        models = {"teacher": teacher, **{variant: fit[0] for variant, fit in fits.items()}}
        latency = interleaved_latency(models, X_test, task, seed)
        cell = {"dataset": name, "seed": seed, "budget": budget, "task": task, "settings_hash": settings_hash(mode),
                "n_rows": len(X), "n_train": len(train), "n_test": len(test), "n_features": X.shape[1],
                "teacher": {**teacher_row, **latency["teacher"]}, "provenance": provenance(table)}
        for variant, (model, setup, seconds) in fits.items():
            cell[variant] = {**describe(model, X_test, y_test, task), **latency[variant], "fit_seconds": seconds,
                             "size_bytes": saved_size_bytes(model, "student"), **setup}
        results["cells"][cell_key(name, seed, budget)] = cell
        save_results(RESULTS[mode], results)
        metric = "auc" if task == "classification" else "r2"
        print(f"{name} seed {seed} {budget}: teacher {cell['teacher'].get(metric, float('nan')):.4f} "
              f"direct {cell['direct'].get(metric, float('nan')):.4f} "
              f"distilled {cell['distilled'].get(metric, float('nan')):.4f} "
              f"({fits['direct'][2]:.0f}s / {fits['distilled'][2]:.0f}s)", flush=True)


def cell_key(name: str, seed: int, budget: str) -> str:
    return f"{name}|{seed}|{budget}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the mode's seeds (full: 0)")
    parser.add_argument("--mode", choices=MODES, default="fixed",
                        help="fixed: two fixed tree sizes (results/tabular_suite.*); search: the estimators' size-budget "
                             "search (results/tabular_suite_search.*); full: the fixed sizes on every row of the tables "
                             f"above {MAX_ROWS:,} rows (results/tabular_suite_full.*)")
    parser.add_argument("--report", action="store_true", help="only rewrite the markdown summary")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else settings(args.mode)["seeds"]
    torch.set_num_threads(1)
    path, budgets, current_hash = RESULTS[args.mode], settings(args.mode)["budgets"], settings_hash(args.mode)
    results = {**load_results(path), "settings": settings(args.mode), "settings_hash": current_hash}
    if not args.report:
        for seed in seeds:  # seed-major: an interrupted run still covers every table with the first seeds
            for name in args.tables:
                todo = [b for b in budgets
                        if results["cells"].get(cell_key(name, seed, b), {}).get("settings_hash") != current_hash]
                if todo:
                    run_seed(name, seed, todo, results, args.mode)
                    results = {**load_results(path), "settings": settings(args.mode), "settings_hash": current_hash}
    write_report(load_results(path), settings(args.mode), current_hash, list(TABLES), path.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
