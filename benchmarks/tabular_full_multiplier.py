"""Why a small distilled tree loses to direct training at full size: synthetic rows per real row (0, 1, 5).

At full size (results/tabular_suite_full.md, seed 0) the small budget's distilled tree (depth 8, 63 leaves, Gibbs x5)
lost to the same tree trained on the labels on adult, california_housing, diamonds and storms, while the teacher led
on all four. This runs the same split, teacher and tree with 0, 1 and 5 Gibbs rows per real row (teacher outputs on
the real rows alone at 0), to see whether the synthetic rows are what costs the student. Direct = the suite cell's
direct student (min_samples_leaf tuned on validation rows). Test rows as in the suite; one cell per table x
multiplier, written when it finishes and skipped on a rerun.

    OMP_NUM_THREADS=1 PYTHONPATH=src nohup python benchmarks/tabular_full_multiplier.py &

Results: results/tabular_full_multiplier.{json,md}.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, describe_provenance, load_results, record_cell, save_results
from tabular_suite import BUDGETS, RESULTS, TEST_SIZE, VALIDATION_SHARE, settings
from tabular_suite_cells import HEADLINE, MemoTeacher, fit_distilled, fit_teacher, split_indices
from tabular_suite_tables import TABLES

from kdistill.atomic import atomic_write_text
from kdistill.tabular.report import evaluate
from kdistill.tabular.suite_tables import load_suite_table

DEFAULT_TABLES = ("adult", "california_housing", "diamonds", "storms")
MULTIPLIERS = (0, 1, 5)
BUDGET, SEED = "small", 0
OUT = RESULTS_DIR / "tabular_full_multiplier.json"


def run_table(name: str, results: dict) -> None:
    todo = [m for m in MULTIPLIERS if f"{name}|x{m}" not in results["cells"]]
    if not todo:
        return
    X, y, task = load_suite_table(TABLES[name])
    train, test = split_indices(y, task, SEED, settings("full")["max_rows"], TEST_SIZE)
    X_train, y_train, X_test, y_test = X.iloc[train], y.iloc[train], X.iloc[test], y.iloc[test]
    teacher = MemoTeacher(fit_teacher(X_train, y_train, task, SEED, VALIDATION_SHARE))
    metric = HEADLINE[task]
    for multiplier in todo:
        model, setup = fit_distilled(X_train, y_train, task, SEED, teacher, BUDGETS[BUDGET]["student"],
                                     BUDGETS[BUDGET]["params"], "gibbs", multiplier, {"n_rounds": 1})
        cell = {"table": name, "task": task, "metric": metric, "multiplier": multiplier, "n_train": len(train),
                "distilled": evaluate(model, X_test, y_test, task)[metric], "setup": setup}
        record_cell(results, f"{name}|x{multiplier}", cell, SEED)
        save_results(OUT, results)
        print(name, multiplier, round(cell["distilled"], 4), flush=True)


def write_report(results: dict) -> None:
    suite = json.loads(RESULTS["full"].read_text())["cells"]
    lines = ["# Small distilled trees at full size: synthetic rows per real row", "",
             f"Seed {SEED}, full tables (results/tabular_suite_full.json's split, teacher and '{BUDGET}' tree "
             f"{BUDGETS[BUDGET]['params']}); test {', '.join(sorted({c['metric'] for c in results['cells'].values()}))}. "
             "Direct and teacher: the suite cell. Written by benchmarks/tabular_full_multiplier.py.", "",
             "| table | training rows | teacher | direct | " + " | ".join(f"distilled x{m}" for m in MULTIPLIERS) + " |",
             "|---|---|---|---|" + "---|" * len(MULTIPLIERS)]
    for name in sorted({c["table"] for c in results["cells"].values()}):
        base = suite.get(f"{name}|{SEED}|{BUDGET}")
        metric = next(c["metric"] for c in results["cells"].values() if c["table"] == name)
        scores = [results["cells"].get(f"{name}|x{m}", {}).get("distilled") for m in MULTIPLIERS]
        lines.append(f"| {name} | {base['n_train']:,} | {base['teacher'][metric]:.4f} | {base['direct'][metric]:.4f} | "
                     + " | ".join("" if s is None else f"{s:.4f}" for s in scores) + " |")
    lines += ["", describe_provenance(results), ""]
    atomic_write_text(OUT.with_suffix(".md"), "\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(DEFAULT_TABLES), choices=sorted(TABLES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = load_results(OUT)
    for name in args.tables:
        run_table(name, results)
    write_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
