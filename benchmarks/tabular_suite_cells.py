"""One cell of the tabular suite: split a table, fit teacher / direct / distilled students, time them interleaved.

Latency is measured the way a deployed model is called: ``predict_proba`` / ``predict`` on a 1,000-row DataFrame
batch of test rows (drawn with replacement when the test split is smaller). The teacher and both students are timed
in turns (rotating order) in one process, ``LATENCY_REPEATS`` times each; a cell records the median and the 10th-90th
percentile spread of CPU ms per 1k rows (see :func:`interleaved_latency`). Sizes are the bytes of the saved files: students with ``save_student`` (skops,
no teacher), the teacher as LightGBM's own model file.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import train_test_split

from kdistill.tabular import DistilledClassifier, DistilledRegressor
from kdistill.tabular.export import save_student
from kdistill.tabular.report import evaluate
from kdistill.tabular.splits import holdout_rows
from kdistill.tabular.teachers import TEACHERS
from kdistill.tabular.teachers import fit_teacher as fit_lightgbm

LATENCY_ROWS = 1000
# Train exactly one variant on all training rows (the estimators would otherwise hold out validation rows and keep
# the better of distilled and direct): the suite compares the two itself, on the test rows.
ONE_VARIANT = {"direct": {"prefer": "direct", "validation_size": 0.0},
               "distilled": {"prefer": "distilled", "validation_size": 0.0}}
LATENCY_REPEATS = 9
HEADLINE = {"classification": "auc", "regression": "r2"}  # higher is better for both


def split_indices(y: pd.Series, task: str, seed: int, max_rows: int | None,
                  test_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row positions into the table: a seeded subsample of at most ``max_rows`` rows (None: all), then
    a split.

    Both steps are stratified: on the class for classification, on target deciles for regression (so a few extreme
    prices or wages never all land on one side).
    """
    rows = np.arange(len(y))
    strata = y.to_numpy() if task == "classification" else pd.qcut(y, 10, labels=False, duplicates="drop").to_numpy()
    if max_rows is not None and len(rows) > max_rows:
        rows, _ = train_test_split(rows, train_size=max_rows, stratify=strata, random_state=seed)
        rows = np.sort(rows)
    train, test = train_test_split(rows, test_size=test_size, stratify=strata[rows], random_state=seed)
    return np.sort(train), np.sort(test)


def fit_teacher(X_train: pd.DataFrame, y_train: pd.Series, task: str, seed: int, validation_share: float) -> Any:
    """kdistill's LightGBM teacher as the estimators fit it: up to 1000 trees, early stopping on ``validation_share``
    of the training rows (stratified / target-binned), one thread."""
    kept, held = holdout_rows(y_train.to_numpy(), task, validation_share, seed)
    X_fit, y_fit = X_train.iloc[kept], y_train.iloc[kept]
    teacher = TEACHERS.build("lightgbm", task=task, X=X_fit, random_state=seed, n_jobs=1)
    return fit_lightgbm(teacher, X_fit, y_fit, (X_train.iloc[held], y_train.iloc[held]))


def estimator_class(task: str):
    return DistilledClassifier if task == "classification" else DistilledRegressor


class MemoTeacher:
    """A fitted teacher whose outputs are computed once per distinct table: both budgets of a seed draw the same
    Gibbs rows (same seed), so the second distilled fit reuses the labels instead of paying LightGBM again.

    It has no ``fit``, so the estimators use it as a fitted teacher; ``classes_`` passes through.
    """

    def __init__(self, teacher: Any):
        self.teacher = teacher
        self.classes_ = getattr(teacher, "classes_", None)
        self._outputs: dict[tuple[str, int], np.ndarray] = {}

    def _memo(self, method: str, X: pd.DataFrame) -> np.ndarray:
        key = (method, int(pd.util.hash_pandas_object(X, index=False).sum()), len(X))
        if key not in self._outputs:
            self._outputs[key] = getattr(self.teacher, method)(X)
        return self._outputs[key]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._memo("predict_proba", X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._memo("predict", X)


def label_only_teacher(y_train: pd.Series, task: str) -> Any:
    """A stand-in teacher for direct students: with label_weight=1 the targets are exactly the labels, so the
    teacher's outputs are never used; a fitted dummy carries ``classes_`` without paying LightGBM's labelling."""
    dummy = DummyClassifier() if task == "classification" else DummyRegressor()
    return dummy.fit(np.zeros((len(y_train), 1)), y_train)


def fit_direct(X_train, y_train, task: str, seed: int, student: str, params: dict,
               min_samples_leaf_grid: tuple[int, ...], validation_share: float) -> tuple[Any, dict]:
    """The same student on the true labels (label_weight=1, no synthetic rows), its leaf size tuned on validation.

    Hard labels overfit a large leaf budget much more than teacher outputs do, so the direct student picks its
    ``min_samples_leaf`` on a validation split of the training rows: the strongest direct student of the budget.
    """
    estimator = estimator_class(task)
    teacher = label_only_teacher(y_train, task)
    stratify = y_train if task == "classification" else None
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=validation_share, stratify=stratify,
                                                  random_state=seed)
    scores = {}
    for min_samples_leaf in min_samples_leaf_grid:
        model = estimator(teacher=teacher, student=student, student_params={**params, "min_samples_leaf": min_samples_leaf},
                          augmentation=None, label_weight=1.0, **ONE_VARIANT["direct"], random_state=seed).fit(X_fit, y_fit)
        scores[min_samples_leaf] = evaluate(model, X_val, y_val, task)[HEADLINE[task]]
    best = max(scores, key=scores.get)
    chosen = {**params, "min_samples_leaf": best}
    model = estimator(teacher=teacher, student=student, student_params=chosen, augmentation=None, label_weight=1.0,
                      **ONE_VARIANT["direct"], random_state=seed).fit(X_train, y_train)
    return model, {"student": student, "params": chosen, "validation_scores": scores}


def fit_distilled(X_train, y_train, task: str, seed: int, teacher: Any, student: str, params: dict,
                  augmentation: str, multiplier: float, augmentation_params: dict) -> tuple[Any, dict]:
    model = estimator_class(task)(teacher=teacher, student=student, student_params=params, augmentation=augmentation,
                                  augmentation_multiplier=multiplier, augmentation_params=augmentation_params,
                                  label_weight=0.0, **ONE_VARIANT["distilled"], random_state=seed).fit(X_train, y_train)
    return model, {"student": student, "params": params, "augmentation": augmentation, "multiplier": multiplier,
                   "augmentation_params": augmentation_params, "transfer_rows": int(model.n_transfer_rows_)}


def fit_within_budget(X_train, y_train, task: str, seed: int, teacher: Any, student: str, budget: dict, variant: str,
                      augmentation: str, multiplier: float, augmentation_params: dict) -> tuple[Any, dict]:
    """The estimators' own budget search: every size of ``student`` fit distilled and direct on 80% of the training
    rows, scored on the other 20%; the best ``variant`` within ``budget`` (max_size_bytes / max_latency_ms) is kept."""
    model = estimator_class(task)(teacher=teacher, student=student, augmentation=augmentation,
                                  augmentation_multiplier=multiplier, augmentation_params=augmentation_params,
                                  label_weight=0.0, prefer=variant, validation_size=0.2, random_state=seed,
                                  refit=False,  # as the recorded cells were fit (before refit existed)
                                  **budget).fit(X_train, y_train)
    chosen = next(row for row in model.candidates_ if row["chosen"])
    return model, {"student": student, "budget": budget, "params": chosen["params"], "chosen_variant": model.chosen_,
                   "validation_score": chosen["score"], "validation_latency_ms_per_1k": chosen["latency_ms_per_1k"],
                   "candidates": [{k: row[k] for k in ("params", "variant", "score", "latency_ms_per_1k", "size_bytes",
                                                       "within_budget")} for row in model.candidates_]}


def saved_size_bytes(model: Any, kind: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        if kind == "teacher":
            booster = getattr(model, "booster_", None) or model[-1].booster_
            path = Path(folder) / "teacher.txt"
            booster.save_model(str(path))
        else:
            path = save_student(model, Path(folder) / "student.skops")
        return os.path.getsize(path)


def interleaved_latency(models: dict[str, Any], X_test: pd.DataFrame, task: str, seed: int) -> dict[str, dict]:
    """CPU ms per 1k rows for each model: median and 10th/90th percentiles over ``LATENCY_REPEATS`` interleaved turns.

    CPU time of this process (``time.process_time``; every model runs on one thread), not wall time: with ~16
    processes on 2 cores a wall-clock call is preempted at random and its time says more about the neighbours than
    about the model. The wall-clock median is kept beside it for reference.
    """
    rng = np.random.default_rng(seed)
    batch = X_test.iloc[rng.choice(len(X_test), LATENCY_ROWS, replace=len(X_test) < LATENCY_ROWS)]
    names = list(models)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    scale = 1000.0 * 1000 / LATENCY_ROWS
    for repeat in range(LATENCY_REPEATS + 1):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            predict = models[name].predict_proba if task == "classification" else models[name].predict
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            predict(batch)
            if repeat:  # the first turn warms caches and lazy imports
                cpu[name].append((time.process_time() - cpu_start) * scale)
                wall[name].append((time.perf_counter() - wall_start) * scale)
    return {name: {"latency_ms_per_1k": float(np.median(cpu[name])), "latency_p10": float(np.percentile(cpu[name], 10)),
                   "latency_p90": float(np.percentile(cpu[name], 90)),
                   "wall_ms_per_1k": float(np.median(wall[name]))} for name in names}


def describe(model: Any, X_test, y_test, task: str) -> dict[str, Any]:
    """Test metrics plus the student's shape (leaves, depth) when it is a tree."""
    out = evaluate(model, X_test, y_test, task)
    tree = getattr(getattr(model, "student_", None), "model_", None)
    if tree is not None and hasattr(tree, "get_n_leaves"):
        out.update(tree_leaves=int(tree.get_n_leaves()), tree_depth=int(tree.get_depth()))
    return out
