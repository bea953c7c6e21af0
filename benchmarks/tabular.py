"""Tabular distillation benchmark: LightGBM teacher -> small students, with and without transfer-set augmentation.

For each dataset and seed: the teacher (LightGBM, 400 trees x 63 leaves), each student trained directly on the
true labels, and the same student distilled from the teacher with no augmentation and with each augmenter
(Gibbs / MUNGE / noise, ``MULTIPLIER`` synthetic rows per real row). Reports the test metric (mean ± std over
seeds), predict latency per 1k rows, model size, and for each distilled student the share of the teacher's
advantage it recovers: (distilled - direct) / (teacher - direct) on the headline metric (AUC / -RMSE).

Resumable: every finished (dataset, method, seed) cell is written to ``results/tabular.json`` at once, and a rerun
skips finished cells. Run: ``nice -n 10 python benchmarks/tabular.py`` (about 30-40 min on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from kdistill.tabular import DistilledClassifier, DistilledRegressor
from kdistill.tabular.datasets import load_tabular
from kdistill.tabular.report import student_report
from kdistill.tabular.teachers import TEACHERS

RESULTS = Path(__file__).parent / "results"
SEEDS = (0, 1, 2)
MULTIPLIER = 3.0
MAX_ROWS = {"bio_kdd04": 50_000}  # stratified subsample (145,751 rows: 74 features x Gibbs is slow on 2 cores)
DATASETS = ("adult", "bio_kdd04", "california_housing", "diamonds")
STUDENTS = {"tree": {"max_depth": 10, "min_samples_leaf": 5}}  # boosting student: too slow to bench on 2 shared cores
AUGMENTATIONS = ("none", "gibbs", "munge", "noise")
HEADLINE = {"classification": ("auc", 1.0), "regression": ("rmse", -1.0)}  # (metric, sign: higher is better)


def split(name: str, seed: int):
    X, y, task = load_tabular(name)
    stratify = y if task == "classification" else None
    if name in MAX_ROWS and len(X) > MAX_ROWS[name]:
        X, _, y, _ = train_test_split(X, y, train_size=MAX_ROWS[name], stratify=stratify, random_state=seed)
        stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=stratify, random_state=seed)
    return X_train, X_test, y_train, y_test, task


def methods() -> list[str]:
    names = ["teacher"]
    for student in STUDENTS:
        names += [f"{student}/direct"] + [f"{student}/distilled-{aug}" for aug in AUGMENTATIONS]
    return names


def run_cell(method: str, teacher, X_train, y_train, task: str, seed: int):
    """Fit the model of ``method``; the direct student is the same estimator distilling from the labels alone."""
    if method == "teacher":
        return teacher
    student, variant = method.split("/")
    estimator = DistilledClassifier if task == "classification" else DistilledRegressor
    common = dict(student=student, student_params=STUDENTS[student], random_state=seed)
    if variant == "direct":
        # label_weight=1, no augmentation: targets are exactly the one-hot labels / true values.
        return estimator(teacher=teacher, augmentation=None, label_weight=1.0, **common).fit(X_train, y_train)
    augmentation = variant.removeprefix("distilled-")
    return estimator(teacher=teacher, augmentation=None if augmentation == "none" else augmentation,
                     augmentation_multiplier=MULTIPLIER, **common).fit(X_train, y_train)


def save(results: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)


def run(datasets: list[str], path: Path) -> dict:
    results = json.loads(path.read_text()) if path.exists() else {"cells": {}}
    results["settings"] = {"seeds": list(SEEDS), "multiplier": MULTIPLIER, "max_rows": MAX_ROWS, "students": STUDENTS,
                           "teacher": "lightgbm n_estimators=400 num_leaves=63 lr=0.05", "test_size": 0.25}
    for name in datasets:
        for seed in SEEDS:
            todo = [m for m in methods() if f"{name}|{m}|{seed}" not in results["cells"]]
            if not todo:
                continue
            X_train, X_test, y_train, y_test, task = split(name, seed)
            started = time.perf_counter()
            teacher = TEACHERS.build("lightgbm", task=task, X=X_train, random_state=seed).fit(X_train, y_train)
            teacher_seconds = time.perf_counter() - started
            for method in todo:
                started = time.perf_counter()
                model = run_cell(method, teacher, X_train, y_train, task, seed)
                fit_seconds = teacher_seconds if method == "teacher" else time.perf_counter() - started
                cell = {"dataset": name, "method": method, "seed": seed, "task": task, "n_train": len(X_train),
                        "n_test": len(X_test), "fit_seconds": fit_seconds,
                        **student_report(model, X_test, y_test, task)}
                results["cells"][f"{name}|{method}|{seed}"] = cell
                save(results, path)
                print(f"{name} seed {seed} {method}: " + ", ".join(
                    f"{k}={v:.4g}" for k, v in cell.items() if isinstance(v, float)), flush=True)
    return results


def summarise(results: dict) -> str:
    """Markdown table: mean ± std per (dataset, method), plus recovery and speed-up against the teacher."""
    from collections import defaultdict

    groups = defaultdict(list)
    for cell in results["cells"].values():
        groups[(cell["dataset"], cell["method"])].append(cell)
    lines = []
    for name in DATASETS:
        if (name, "teacher") not in groups:
            continue
        task = groups[(name, "teacher")][0]["task"]
        metric, sign = HEADLINE[task]
        other = "accuracy" if task == "classification" else "r2"
        n_train = groups[(name, "teacher")][0]["n_train"]
        note = f", subsampled to {MAX_ROWS[name]:,} rows" if name in MAX_ROWS else ""
        lines += [f"\n### {name} ({task}, {n_train:,} train rows{note})\n",
                  f"| method | {metric} | {other} | recovered | latency ms/1k | speed-up | size KB | depth / leaves | seeds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        mean = lambda cells, key: float(np.mean([c[key] for c in cells]))  # noqa: E731
        teacher = groups[(name, "teacher")]
        for method in methods():
            cells = groups.get((name, method))
            if not cells:
                continue
            values = [c[metric] for c in cells]
            recovered = ""
            student = method.split("/")[0]
            direct = groups.get((name, f"{student}/direct"))
            if "distilled" in method and direct:
                gap = sign * (mean(teacher, metric) - mean(direct, metric))
                recovered = f"{sign * (np.mean(values) - mean(direct, metric)) / gap:.0%}" if gap > 0 else "n/a"
            shape = f"{mean(cells, 'tree_depth'):.0f} / {mean(cells, 'tree_leaves'):.0f}" if "tree_depth" in cells[0] else (
                f"{mean(cells, 'trees'):.0f} trees / {mean(cells, 'tree_leaves'):.0f}" if "trees" in cells[0] else "")
            lines.append(
                f"| {method} | {np.mean(values):.4f} ± {np.std(values):.4f} | {mean(cells, other):.4f} | {recovered} | "
                f"{mean(cells, 'latency_ms_per_1k'):.2f} | {mean(teacher, 'latency_ms_per_1k') / mean(cells, 'latency_ms_per_1k'):.1f}x | "
                f"{mean(cells, 'size_bytes') / 1024:.0f} | {shape} | {len(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--out", type=Path, default=RESULTS / "tabular.json")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = run(args.datasets, args.out)
    header = ("# Tabular distillation benchmark\n\nLightGBM teacher -> decision tree (depth <= 10, >= 5 rows per leaf) student "
              f"; distilled = trained on teacher probabilities / predictions over the "
              f"training rows plus {MULTIPLIER:g}x synthetic rows. Mean ± std over seeds {list(SEEDS)}; 25% test split. "
              "recovered = (distilled - direct) / (teacher - direct) on the headline metric; speed-up = teacher latency / "
              "model latency (predict_proba / predict on the test set, incl. input encoding, best of 3, 2 shared CPU cores). "
              "Size = pickled bytes without the teacher.\n")
    (args.out.with_suffix(".md")).write_text(header + summarise(results) + "\n")
    print(summarise(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
