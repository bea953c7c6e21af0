"""kdistill's boosting student on the AutoGluon side-by-side splits: the kdistill half beside AutoGluon's distill().

The suite (tabular_suite.py) only trains trees; AutoGluon's distilled LightGBM spends ~5x a tree's CPU per row. This
fits what a kdistill user gets from ``DistilledClassifier / DistilledRegressor(teacher="lightgbm", student="boosting",
student_params=BOOSTING)`` with the defaults (``prefer="better"``: distilled and direct both trained, the better on 20%
validation rows kept; boosting rounds chosen on those rows; teacher early-stopped on them) on the same rows AutoGluon
saw (results/tabular_splits), and times it in CPU ms per 1k rows beside kdistill's teacher like the suite does.
Results: results/tabular_autogluon_kdistill.json, read by autogluon_report.py. Run with the kdistill venv:

    OMP_NUM_THREADS=1 PYTHONPATH=src nohup python benchmarks/autogluon_kdistill_side.py &
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, machine, save_results
from tabular_suite import GIT_AT_LAUNCH, SPLITS_DIR
from tabular_suite_cells import (
    describe,
    estimator_class,
    interleaved_latency,
    saved_size_bytes,
)
from tabular_suite_tables import TABLES

from kdistill.tabular.suite_tables import load_suite_table

DATASETS, SEEDS = ("adult", "california_housing"), (0,)
BOOSTING = {"max_iter": 300, "max_depth": None, "max_leaf_nodes": 31}  # the largest size of the budget grid
RESULTS = RESULTS_DIR / "tabular_autogluon_kdistill.json"


def run_cell(name: str, seed: int) -> dict:
    X, y, task = load_suite_table(TABLES[name])
    split = np.load(SPLITS_DIR / f"{name}-seed{seed}.npz")
    X_train, y_train = X.iloc[split["train"]], y.iloc[split["train"]]
    X_test, y_test = X.iloc[split["test"]], y.iloc[split["test"]]
    started = time.perf_counter()
    model = estimator_class(task)(teacher="lightgbm", student="boosting", student_params=BOOSTING,
                                  augmentation="gibbs", augmentation_multiplier=5.0, augmentation_params={"n_rounds": 1},
                                  random_state=seed).fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    latency = interleaved_latency({"teacher": model.teacher_, "student": model}, X_test, task, seed)
    return {"dataset": name, "seed": seed, "task": task, "fit_seconds": fit_seconds,
            "student": {**describe(model, X_test, y_test, task), **latency["student"],
                        "size_bytes": saved_size_bytes(model, "student"), "chosen": model.chosen_,
                        "rounds": int(model.student_.n_rounds_), "params": BOOSTING,
                        "validation_scores": {"distilled": model.distilled_score_, "direct": model.direct_score_}},
            "teacher": {**describe(model.teacher_, X_test, y_test, task), **latency["teacher"]},
            "provenance": {"git": GIT_AT_LAUNCH, "machine": machine(), "load_average": os.getloadavg()}}


def main() -> int:
    torch.set_num_threads(1)
    results = load_results(RESULTS)
    for name in DATASETS:
        for seed in SEEDS:
            if f"{name}|{seed}" not in results["cells"]:
                results["cells"][f"{name}|{seed}"] = cell = run_cell(name, seed)
                save_results(RESULTS, results)
                print(json.dumps({k: cell[k] for k in ("dataset", "student")}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
