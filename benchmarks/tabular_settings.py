"""Tabular settings search and student study, on validation rows disjoint from every seed's test rows.

Where kdistill's tabular defaults come from (leaves per row, Gibbs multiplier, boosting and MLP students), and why
distilled boosting / MLP students did not beat direct training before (issue 18, item 3). For each dataset the
*settings pool* is the rows that no benchmark seed (``TEST_SEEDS``) holds out as test rows (test split:
``kdistill.tabular.splits.holdout_rows(y, task, TEST_SHARE, seed)``, the split benchmarks/tabular.py uses too). The
pool is split into fitting and validation rows (25%, stratified / binned); every number below is a validation-row
score, so no default was chosen on any seed's test rows. The LightGBM teacher stops early on the validation rows.

Cells (each written when it finishes; a rerun skips finished cells): tree / boosting / mlp students, trained
direct (labels) or distilled (teacher targets on the fitting rows plus Gibbs rows), with the variations of item 3:
number of synthetic rows (multiplier 0-10), their weight relative to real labels (label_weight), probability vs
logit targets (boosting), rounds / epochs chosen on real validation rows or not; and Gibbs sampling time and peak
memory (tracemalloc) per multiplier. Run: ``OMP_NUM_THREADS=1 nohup python benchmarks/tabular_settings.py &``
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from kdistill.augment.tabular import augment, teacher_labels
from kdistill.tabular.datasets import load_tabular
from kdistill.tabular.selection import (
    SharedData,
    fit_candidate,
    interleaved_latency,
    latency_batch,
    saved_size_bytes,
)
from kdistill.tabular.sizing import scaled_leaves
from kdistill.tabular.soft_labels import (
    classification_targets,
    one_hot,
    regression_targets,
)
from kdistill.tabular.splits import holdout_rows, take_rows
from kdistill.tabular.teachers import TEACHERS, fit_teacher

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS_DIR, load_results, record_cell, save_results  # noqa: E402

TEST_SEEDS, TEST_SHARE, POOL_SEED, VALIDATION_SHARE = (0, 1, 2), 0.25, 0, 0.25
DATASETS = ("adult", "california_housing")
BOOST = {"max_iter": 300, "max_depth": None, "max_leaf_nodes": 31, "learning_rate": 0.1}
MLP = {"hidden": (128, 128), "epochs": 10, "batch_size": 512, "lr": 2e-3}
SMALL_BOOST = {"max_iter": 30, "max_depth": None, "max_leaf_nodes": 15, "learning_rate": 0.1}  # capacity-limited
LONG_MLP = {**MLP, "epochs": 30}
# cell name -> (family, params, variant, multiplier, label_weight, use validation rows to stop)
CELLS = {
    **{f"tree/direct/rpl{r}": ("tree", {"rows_per_leaf": r}, "direct", 0, 0.0, True) for r in (4, 16, 64)},
    **{f"tree/gibbs-x{m}/rpl{r}": ("tree", {"rows_per_leaf": r}, "distilled", m, 0.0, True)
       for r in (4, 16, 64) for m in (2, 5)},
    "tree/gibbs-x1/rpl16": ("tree", {"rows_per_leaf": 16}, "distilled", 1, 0.0, True),
    "tree/gibbs-x10/rpl16": ("tree", {"rows_per_leaf": 16}, "distilled", 10, 0.0, True),
    "boosting/direct": ("boosting", BOOST, "direct", 0, 0.0, True),
    "boosting/direct/no-stop": ("boosting", BOOST, "direct", 0, 0.0, False),
    "boosting/distilled-x0": ("boosting", BOOST, "distilled", 0, 0.0, True),
    "boosting/gibbs-x1": ("boosting", BOOST, "distilled", 1, 0.0, True),
    "boosting/gibbs-x5": ("boosting", BOOST, "distilled", 5, 0.0, True),
    "boosting/gibbs-x5/no-stop": ("boosting", BOOST, "distilled", 5, 0.0, False),
    "boosting/gibbs-x5/logit": ("boosting", {**BOOST, "target": "logit"}, "distilled", 5, 0.0, True),
    "boosting/gibbs-x5/labels0.5": ("boosting", BOOST, "distilled", 5, 0.5, True),
    "boosting/gibbs-x10": ("boosting", BOOST, "distilled", 10, 0.0, True),
    "boosting-small/direct": ("boosting", SMALL_BOOST, "direct", 0, 0.0, True),
    "boosting-small/distilled-x0": ("boosting", SMALL_BOOST, "distilled", 0, 0.0, True),
    "boosting-small/gibbs-x2": ("boosting", SMALL_BOOST, "distilled", 2, 0.0, True),
    "boosting-small/gibbs-x5": ("boosting", SMALL_BOOST, "distilled", 5, 0.0, True),
    "boosting-small/gibbs-x2/w0.2": ("boosting", SMALL_BOOST, "distilled", 2, 0.0, True),
    "boosting-small/gibbs-x5/w0.2": ("boosting", SMALL_BOOST, "distilled", 5, 0.0, True),
    "boosting/gibbs-x5/w0.2": ("boosting", BOOST, "distilled", 5, 0.0, True),
    "tree/gibbs-x5/rpl4/w0.3": ("tree", {"rows_per_leaf": 4}, "distilled", 5, 0.0, True),
    "mlp/direct": ("mlp", MLP, "direct", 0, 0.0, True),
    "mlp30/direct": ("mlp", LONG_MLP, "direct", 0, 0.0, True),
    "mlp30/gibbs-x5": ("mlp", LONG_MLP, "distilled", 5, 0.0, True),
    "mlp/distilled-x0": ("mlp", MLP, "distilled", 0, 0.0, True),
    "mlp/gibbs-x5": ("mlp", MLP, "distilled", 5, 0.0, True),
    "mlp/gibbs-x5/labels0.5": ("mlp", MLP, "distilled", 5, 0.5, True),
}


def settings_pool(name: str):
    """(X, y, task) of the rows no test seed holds out."""
    X, y, task = load_tabular(name)
    y = np.asarray(y)
    in_test = np.zeros(len(y), dtype=bool)
    for seed in TEST_SEEDS:
        in_test[holdout_rows(y, task, TEST_SHARE, seed)[1]] = True
    pool = np.flatnonzero(~in_test)
    return take_rows(X, pool), y[pool], task


class Study:
    """One dataset's pool, teacher and transfer sets (cached per multiplier and label weight)."""

    def __init__(self, name: str, results: dict, path: Path):
        self.name, self.results, self.path = name, results, path
        X, y, self.task = settings_pool(name)
        kept, held = holdout_rows(y, self.task, VALIDATION_SHARE, POOL_SEED)
        self.X_fit, self.y_fit, self.X_val, self.y_val = take_rows(X, kept), y[kept], take_rows(X, held), y[held]
        if self.task == "regression":
            self.y_fit, self.y_val = self.y_fit.astype(float), self.y_val.astype(float)
        started = time.perf_counter()
        teacher = TEACHERS.build("lightgbm", task=self.task, X=self.X_fit, random_state=0, n_jobs=1)
        self.teacher = fit_teacher(teacher, self.X_fit, self.y_fit, (self.X_val, self.y_val))
        self.teacher_seconds = time.perf_counter() - started
        self.transfer: dict[int, tuple] = {}

    def transfer_set(self, multiplier: int):
        if multiplier not in self.transfer:
            from kdistill.tabular.validation import stack_rows

            tracemalloc.start()
            started = time.process_time()  # CPU seconds: wall time on a shared machine measures the neighbours
            synthetic = augment(self.X_fit, "gibbs", multiplier, random_state=0, progress=True) if multiplier else None
            seconds = time.process_time() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            X = self.X_fit if synthetic is None else stack_rows(self.X_fit, synthetic)
            outputs = teacher_labels(self.teacher, X, self.task, progress=False)
            self.transfer[multiplier] = (X, outputs)
            key = f"{self.name}|gibbs-scale/x{multiplier}|{POOL_SEED}"
            if multiplier and key not in self.results["cells"]:
                self.record(key, {"kind": "gibbs", "multiplier": multiplier, "rows": len(X) - len(self.X_fit),
                                  "sample_seconds": seconds, "peak_mb": peak / 2**20})
        return self.transfer[multiplier]

    def shared(self, multiplier: int, label_weight: float) -> SharedData:
        X, outputs = self.transfer_set(multiplier)
        if self.task == "classification":
            classes = np.asarray(self.teacher.classes_)
            index = np.searchsorted(classes, self.y_fit)
            return SharedData("classification", self.X_fit, one_hot(index, len(classes)), X,
                              classification_targets(outputs, index, 1.0, label_weight), 1.0, self.X_val, self.y_val,
                              one_hot(np.searchsorted(classes, self.y_val), len(classes)), len(self.y_fit))
        return SharedData("regression", self.X_fit, self.y_fit, X, regression_targets(outputs, self.y_fit, label_weight),
                          1.0, self.X_val, self.y_val, self.y_val, len(self.y_fit))

    def record(self, key: str, cell: dict) -> None:
        record_cell(self.results, key, {"dataset": self.name, "task": self.task, "n_fit": len(self.y_fit),
                                        "n_val": len(self.y_val), **cell}, POOL_SEED)
        save_results(self.path, self.results)
        print(key, {k: round(v, 4) for k, v in cell.items() if isinstance(v, float)}, flush=True)

    def run_teacher(self) -> None:
        key = f"{self.name}|teacher|{POOL_SEED}"
        if key not in self.results["cells"]:
            self.record(key, {"kind": "teacher", **self.measure(self.teacher), "fit_seconds": self.teacher_seconds,
                              "trees": int(self.teacher.best_iteration_ or self.teacher.n_estimators)})

    def measure(self, model) -> dict:
        """Validation score, and CPU ms per 1k rows timed in turns with the teacher (same rounds: the ratio holds
        under any load)."""
        from kdistill.tabular.selection import validation_score

        metric, score = validation_score(model, self.X_val, self.y_val, self.task)
        method = "predict_proba" if self.task == "classification" else "predict"
        timed = interleaved_latency({"model": getattr(model, method), "teacher": getattr(self.teacher, method)},
                                    latency_batch(self.X_val))
        return {"metric": metric, "score": score, **timed["model"],
                "teacher_latency_ms_per_1k": timed["teacher"]["latency_ms_per_1k"],
                "latency_vs_teacher": timed["model"]["latency_ms_per_1k"] / timed["teacher"]["latency_ms_per_1k"]}

    def run_cell(self, cell: str) -> None:
        key = f"{self.name}|{cell}|{POOL_SEED}"
        family, params, variant, multiplier, label_weight, stop = CELLS[cell]
        if key in self.results["cells"] or (params.get("target") == "logit" and self.task == "regression"):
            return
        params = dict(params)
        if "rows_per_leaf" in params:
            params = {"max_depth": None, "max_leaf_nodes": scaled_leaves(len(self.y_fit), params.pop("rows_per_leaf"),
                                                                          15, 4095)}
        data = self.shared(multiplier, label_weight)
        data.synthetic_weight = float(cell.rsplit("/w", 1)[1]) if "/w" in cell else 1.0
        if not stop:
            data.X_val = None  # the student sees no validation rows: trains all rounds / keeps the last epoch
        fitted = fit_candidate(family, params, variant, data, seed=0)
        model = wrap(fitted, self.task, self.teacher, self.X_fit)
        self.record(key, {"kind": "student", "family": family, "variant": variant, "multiplier": multiplier,
                          "label_weight": label_weight, "stop_on_validation": stop, "params": repr(params),
                          "synthetic_weight": data.synthetic_weight,
                          "fit_seconds": fitted.fit_seconds, "size_bytes": saved_size_bytes(model),
                          "rounds": getattr(fitted.student, "n_rounds_", None), **self.measure(model)})


def wrap(fitted, task: str, teacher, X_fit):
    """An estimator holding ``fitted`` (what a user would get), for scoring, timing and sizing."""
    from kdistill.tabular import DistilledClassifier, DistilledRegressor

    model = DistilledClassifier() if task == "classification" else DistilledRegressor()
    if task == "classification":
        model.classes_ = np.asarray(teacher.classes_)
    model.n_features_in_ = X_fit.shape[1]
    model.feature_names_in_ = np.asarray([str(c) for c in X_fit.columns], dtype=object)
    model._install(fitted)
    return model


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "tabular_settings.json")
    args = parser.parse_args(argv)
    results = load_results(args.out)
    results["settings"] = {"test_seeds": list(TEST_SEEDS), "test_share": TEST_SHARE, "pool_seed": POOL_SEED,
                           "validation_share": VALIDATION_SHARE, "boost": BOOST, "small_boost": SMALL_BOOST, "mlp": repr(MLP),
                           "long_mlp": repr(LONG_MLP),
                           "teacher": "lightgbm <=1000 trees x 63 leaves, lr 0.05, early stopping 50 rounds, n_jobs=1"}
    for name in args.datasets:
        study = Study(name, results, args.out)
        study.run_teacher()
        for cell in args.cells:
            study.run_cell(cell)
    from tabular_settings_report import write_report

    write_report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
