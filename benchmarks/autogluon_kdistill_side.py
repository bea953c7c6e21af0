"""kdistill's budget search on the AutoGluon side-by-side splits: the kdistill half beside AutoGluon's distill().

What a user does to match AutoGluon's distilled student within its latency: ``DistilledClassifier / DistilledRegressor(
teacher="lightgbm", student="auto", max_latency_ms=<AutoGluon's latency>)``. The search tries every student family and
size of :func:`kdistill.tabular.sizing.candidate_grid` (trees, boosting, MLP), each distilled and direct, scores them
on 20% validation rows carved from the training rows, times them on a 1k-row validation batch (CPU ms, interleaved),
and keeps the best validation score within the budget - no test row informs the choice - then trains the teacher and
the kept students again on all training rows at the chosen sizes (``refit=True``, the default since session 7; the
session-6 cells were fit without it and stay in the file as the "no refit" rows). The chosen student is then
scored on the test rows AutoGluon was scored on (results/tabular_splits, written by tabular_suite.py) and timed beside
kdistill's teacher the way AutoGluon's models were (tabular_suite_cells.interleaved_latency: CPU ms per 1k-row test
batch, median and p10-p90 of 9 interleaved calls). The budget is the latency of AutoGluon's distilled LightGBM
(LightGBM_DSTL, the best single distilled model of results/tabular_autogluon.json; its lowest measurement when it was
measured twice). AutoGluon ran seed 0 only; seeds 1 and 2 are kdistill alone (same budget), to show the spread.

    OMP_NUM_THREADS=1 PYTHONPATH=src nohup python benchmarks/autogluon_kdistill_side.py [--seeds 0 1 2] &

Results: results/tabular_autogluon_kdistill.json (a cell per dataset x seed, written when it finishes, skipped on a
rerun); ``autogluon_report.py`` prints them beside AutoGluon in results/tabular_autogluon.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autogluon_report import AUTOGLUON_MODEL, autogluon_target
from autogluon_report import main as write_reports
from common import RESULTS_DIR, load_results, record_cell, save_results
from tabular_suite import SPLITS_DIR
from tabular_suite_cells import describe, estimator_class, interleaved_latency, saved_size_bytes
from tabular_suite_tables import TABLES

from kdistill.tabular.suite_tables import load_suite_table

DATASETS, SEEDS = ("adult", "california_housing"), (0, 1, 2)
RESULTS = RESULTS_DIR / "tabular_autogluon_kdistill.json"
AUTOGLUON_RESULTS = RESULTS_DIR / "tabular_autogluon.json"
SEARCH = {"teacher": "lightgbm", "student": "auto", "augmentation": "gibbs", "augmentation_multiplier": 5.0,
          "augmentation_params": {"n_rounds": 1}, "refit": True}  # everything else: the estimators' defaults


def candidate_summary(model) -> list[dict]:
    keys = ("family", "params", "variant", "score", "latency_ms_per_1k", "latency_ms_per_1k_q25",
            "latency_ms_per_1k_q75", "size_bytes", "within_budget", "chosen", "fit_seconds")
    return [{key: row.get(key) for key in keys} for row in model.candidates_]


def run_cell(name: str, seed: int, budget_ms: float) -> dict:
    X, y, task = load_suite_table(TABLES[name])
    split = np.load(SPLITS_DIR / f"{name}-seed{seed}.npz")
    X_train, y_train = X.iloc[split["train"]], y.iloc[split["train"]]
    X_test, y_test = X.iloc[split["test"]], y.iloc[split["test"]]
    started = time.perf_counter()
    model = estimator_class(task)(**SEARCH, max_latency_ms=budget_ms, random_state=seed).fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    other = "direct" if model.chosen_ == "distilled" else "distilled"
    runner_up = model.variant_model(other)  # the best student of the other variant within the budget
    latency = interleaved_latency({"teacher": model.teacher_, "student": model, "other": runner_up}, X_test, task, seed)
    rounds = getattr(model.student_, "n_rounds_", None)
    return {"dataset": name, "seed": seed, "task": task, "budget_ms_per_1k": budget_ms, "fit_seconds": fit_seconds,
            "search": {k: v for k, v in SEARCH.items()},
            "student": {**describe(model, X_test, y_test, task), **latency["student"],
                        "size_bytes": saved_size_bytes(model, "student"), "family": model.student_family_,
                        "params": model.student_params_, "variant": model.chosen_,
                        "rounds": None if rounds is None else int(rounds),
                        "validation_scores": {"distilled": model.distilled_score_, "direct": model.direct_score_}},
            "other_variant": {**describe(runner_up, X_test, y_test, task), **latency["other"], "variant": other,
                              "family": runner_up.student_family_, "params": runner_up.student_params_},
            "teacher": {**describe(model.teacher_, X_test, y_test, task), **latency["teacher"],
                        "validation": model.teacher_validation_},
            "candidates": candidate_summary(model), "n_transfer_rows": int(model.n_transfer_rows_),
            "refit": model.refit_}


def cell_key(name: str, seed: int, search: dict) -> str:
    """Cells of the search with refit carry ``|refit``; the session-6 cells (no refit) keep their ``name|seed``."""
    return f"{name}|{seed}" + ("|refit" if search.get("refit") else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    autogluon = json.loads(AUTOGLUON_RESULTS.read_text())
    results = load_results(RESULTS)
    for name in args.datasets:
        target = autogluon_target(autogluon, name, 0)  # the budget: seed 0's, for every seed (AutoGluon ran it first)
        if target is None:
            raise SystemExit(f"results/tabular_autogluon.json has no {AUTOGLUON_MODEL} on {name}: run autogluon_side_by_side.py")
        for seed in args.seeds:
            key = cell_key(name, seed, SEARCH)
            if key in results["cells"]:
                continue
            cell = run_cell(name, seed, target["latency_ms_per_1k"])
            cell["autogluon_target"] = {"model": AUTOGLUON_MODEL, "cell": target["cell"], "metric": target["metric"],
                                        "score": target["score"], "latency_ms_per_1k": target["latency_ms_per_1k"],
                                        "compared": seed == 0}
            record_cell(results, key, cell, seed)
            save_results(RESULTS, results)
            student = cell["student"]
            print(json.dumps({"cell": key, "family": student["family"], "variant": student["variant"],
                              "params": student["params"], target["metric"]: student[target["metric"]],
                              "ms": student["latency_ms_per_1k"], "autogluon": target["score"]}), flush=True)
    return write_reports()


if __name__ == "__main__":
    sys.exit(main())
