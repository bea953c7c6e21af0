"""Where a tree student's prediction time goes: column encoding (per-column reference vs vectorised) vs the tree.

Tables: a synthetic 85-column table (80 numeric + 5 categorical columns, 20k rows; the shape of issue 18's
85-column report) and adult (14 columns, 8 categorical). A distilled tree student (1023 leaves, no augmentation,
random-forest teacher) is fitted once per table; then, interleaved in one process for ``ROUNDS`` rounds on the same
1,000-row batch: ``reference`` (kdistill.tabular.codes.transform_by_column: one pandas conversion per column, the
encoder before vectorising), ``encode`` (CategoryCodeEncoder.transform), ``tree`` (the fitted tree on encoded
rows) and ``predict_proba`` (what a user calls: checks + encoding + tree). Median and quartiles, ms per 1k rows.
Run: ``OMP_NUM_THREADS=1 python benchmarks/tabular_latency.py`` (a minute); load average recorded.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kdistill.tabular import DistilledClassifier
from kdistill.tabular.codes import transform_by_column
from kdistill.tabular.datasets import load_tabular

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS_DIR, load_results, machine, save_results  # noqa: E402

ROUNDS = 61


def wide_table(n_rows: int = 20_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    columns = {f"x{i}": rng.normal(size=n_rows) for i in range(80)}
    for i in range(5):
        columns[f"c{i}"] = pd.Categorical(rng.choice([f"v{j}" for j in range(12)], n_rows))
    X = pd.DataFrame(columns)
    y = np.where(X["x0"] + X["x1"] * X["x2"] + (X["c0"].cat.codes % 3) + rng.normal(size=n_rows) > 1, "yes", "no")
    return X, y


def time_interleaved(calls: dict, rounds: int) -> dict:
    times = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for round_index in range(rounds):
        names = list(calls)
        names = names[round_index % len(names):] + names[:round_index % len(names)]  # rotate the order
        for name in names:
            started = time.perf_counter()
            calls[name]()
            times[name].append((time.perf_counter() - started) * 1e3)
    return {name: {"min": float(np.min(t)), "median": float(np.median(t)), "q25": float(np.percentile(t, 25)),
                   "q75": float(np.percentile(t, 75))} for name, t in times.items()}


def main() -> int:
    path = RESULTS_DIR / "tabular_latency.json"
    results = load_results(path)
    for name in ("wide85", "adult"):
        X, y = wide_table() if name == "wide85" else load_tabular("adult")[:2]
        model = DistilledClassifier(teacher="random_forest", augmentation=None, validation_size=0,
                                    student_params={"max_leaf_nodes": 1023}, random_state=0).fit(X, y)
        batch = X.iloc[:1000].reset_index(drop=True)
        encoded = model.encoder_.transform(batch)
        np.testing.assert_array_equal(encoded, transform_by_column(model.encoder_, batch))
        calls = {"reference": lambda: transform_by_column(model.encoder_, batch),
                 "encode": lambda: model.encoder_.transform(batch),
                 "tree": lambda: model.student_.predict_soft(encoded),
                 "predict_proba": lambda: model.predict_proba(batch)}
        cell = {"table": name, "columns": X.shape[1], "rounds": ROUNDS, "load_average": os.getloadavg(),
                "machine": machine(), "ms_per_1k": time_interleaved(calls, ROUNDS)}
        results["cells"][name] = cell
        save_results(path, results)
        print(name, {k: round(v["median"], 3) for k, v in cell["ms_per_1k"].items()}, flush=True)
    lines = ["# Tree student latency: encoding vs tree (ms per 1,000 rows: min / median (q25-q75))", "",
             "On a machine shared by several jobs the median includes time the process waited for a core; the "
             "minimum is the uncontended cost.", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             "| table | columns | per-column encoding (before) | vectorised encoding | tree | predict_proba | load avg |",
             "|---|---|---|---|---|---|---|"]
    for cell in results["cells"].values():
        t = cell["ms_per_1k"]
        show = lambda k: f"{t[k]['min']:.2f} / {t[k]['median']:.2f} ({t[k]['q25']:.2f}-{t[k]['q75']:.2f})"  # noqa: E731
        lines.append(f"| {cell['table']} | {cell['columns']} | {show('reference')} | {show('encode')} | {show('tree')} | "
                     f"{show('predict_proba')} | {cell['load_average'][0]:.1f} |")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
