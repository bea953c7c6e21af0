"""Fit student candidates - distilled and direct - on shared data, score them on validation rows, measure them.

Everything candidates share is computed once per estimator fit (:class:`SharedData`): the real fitting rows and their
label targets, the transfer set (real + synthetic rows) with the teacher's targets - an in-memory cache of the teacher
outputs, so ten candidates cost one labelling pass - and the real validation rows. A candidate is one student family
and size, trained either on the teacher's targets ("distilled") or on the labels ("direct"). Its validation score is
AUC (binary and multiclass with every class present), else accuracy, or R² for regression; its latency is the
median CPU time of repeated ``predict_proba`` / ``predict`` calls on 1,000 validation rows (the whole path a user
calls: checks, encoding, model), every candidate and the teacher timed in turns (:func:`interleaved_latency`); its
size is the bytes of the skops file ``save_student`` would write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import numpy as np

from kdistill.tabular.encoding import categorical_mask, make_encoder
from kdistill.tabular.students import build_student

VARIANTS = ("distilled", "direct")
LATENCY_ROWS = 1000
LATENCY_REPEATS = 9


@dataclass
class SharedData:
    """Rows and targets every candidate of one fit uses. Targets: (n, C) probabilities or (n,) values."""

    task: str
    X_fit: Any
    label_targets: np.ndarray  # one-hot labels / true values of X_fit's rows
    X_transfer: Any  # X_fit's rows, then the synthetic rows
    teacher_targets: np.ndarray  # tempered, label-mixed teacher targets of X_transfer's rows
    temperature: float
    X_val: Any = None
    y_val: Any = None  # raw labels / values of the validation rows
    val_targets: np.ndarray | None = None  # same form as label_targets
    n_real_rows: int = 0
    synthetic_weight: float = 1.0  # weight of each synthetic row relative to a real one (distilled variant)
    extra: dict[str, Any] = field(default_factory=dict)

    def weights(self, variant: str) -> np.ndarray | None:
        """(n_transfer,) row weights of the distilled rows, or None when every row weighs 1."""
        if variant != "distilled" or self.synthetic_weight == 1.0 or len(self.X_transfer) == self.n_real_rows:
            return None
        weights = np.full(len(self.X_transfer), float(self.synthetic_weight))
        weights[: self.n_real_rows] = 1.0
        return weights

    def rows(self, variant: str) -> tuple[Any, np.ndarray]:
        return (self.X_transfer, self.teacher_targets) if variant == "distilled" else (self.X_fit, self.label_targets)


@dataclass
class Fitted:
    """One trained candidate: what an estimator needs to predict with it."""

    family: str
    params: dict[str, Any]
    variant: str
    encoder: Any
    student: Any
    output_temperature: float
    fit_seconds: float


def fit_candidate(family: str, params: dict[str, Any], variant: str, data: SharedData, seed: int) -> Fitted:
    """Train ``family(**params)`` on the variant's rows; its encoder orders categories by the same targets."""
    X, targets = data.rows(variant)
    started = time.perf_counter()
    student = build_student(family, data.task, random_state=seed, **params)
    encoder = make_encoder(X, student.encoding).fit(X, targets)
    validation = None
    if data.X_val is not None:
        validation = (encoder.transform(data.X_val), data.val_targets)
    weights = data.weights(variant)
    extra = {} if weights is None else {"sample_weight": weights}
    student.fit(encoder.transform(X), targets, categorical_mask(encoder), validation=validation, **extra)
    temperature = data.temperature if variant == "distilled" else 1.0
    return Fitted(family, dict(params), variant, encoder, student, temperature, time.perf_counter() - started)


def validation_score(model: Any, X: Any, y: Any, task: str) -> tuple[str, float]:
    """(metric name, value; higher is better) of a fitted estimator on validation rows."""
    from kdistill.tabular.report import evaluate

    metrics = evaluate(model, X, y, task)
    metric = "r2" if task == "regression" else ("auc" if "auc" in metrics else "accuracy")
    return metric, metrics[metric]


def latency_batch(X: Any, seed: int = 0) -> Any:
    """``LATENCY_ROWS`` rows drawn from ``X`` (with replacement when it has fewer)."""
    from kdistill.tabular.splits import take_rows

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=LATENCY_ROWS, replace=len(X) < LATENCY_ROWS)
    return take_rows(X, rows)


def interleaved_latency(predicts: dict[Any, Callable[[Any], Any]], batch: Any,
                        repeats: int = LATENCY_REPEATS) -> dict[Any, dict[str, float]]:
    """CPU ms per 1k rows of each ``predicts[name](batch)`` call: median, 25th and 75th percentile over ``repeats``.

    CPU time of this process (``time.process_time``), not wall time: on a shared machine a wall-clock call is
    preempted at random and its time says more about the neighbours than about the model (seen: the same student
    timed 3 ms and 40 ms minutes apart at load 25). The functions take turns, in an order that rotates every round,
    so a burst of load or a warm cache favours none of them; the first round warms caches and lazy imports and is not
    counted. CPU time counts every thread of the process: a model predicting on 4 threads is charged for all 4.
    Scaled by 1000 / len(batch).
    """
    names = list(predicts)
    times: dict[Any, list[float]] = {name: [] for name in names}
    for repeat in range(repeats + 1):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.process_time()
            predicts[name](batch)
            if repeat:
                times[name].append(time.process_time() - started)
    scale = 1e3 * 1000.0 / max(len(batch), 1)
    out = {}
    for name in names:
        q25, median, q75 = np.percentile(np.asarray(times[name]) * scale, [25, 50, 75])
        out[name] = {"latency_ms_per_1k": float(median), "latency_ms_per_1k_q25": float(q25),
                     "latency_ms_per_1k_q75": float(q75)}
    return out


def latency_ms_per_1k(predict: Callable[[Any], Any], batch: Any, repeats: int = LATENCY_REPEATS) -> dict[str, float]:
    """:func:`interleaved_latency` of one prediction function (median, q25, q75 CPU ms per 1k rows)."""
    return interleaved_latency({0: predict}, batch, repeats)[0]


def saved_size_bytes(model: Any) -> int | None:
    """Bytes of the skops file ``save_student`` writes for ``model`` (without its teacher); None if skops cannot
    serialise it (seen: a RecursionError inside skops for a student fitted within a scikit-learn Pipeline)."""
    from kdistill.tabular.report import model_size_bytes

    return model_size_bytes(model)


def within_budget(row: dict[str, Any], max_latency_ms: float | None, max_size_bytes: int | None) -> bool:
    size = row["size_bytes"]
    return ((max_latency_ms is None or row["latency_ms_per_1k"] <= max_latency_ms)
            and (max_size_bytes is None or (size is not None and size <= max_size_bytes)))


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows no other row beats on both validation score (higher) and latency (lower), by latency."""
    front, best = [], -np.inf
    for row in sorted(rows, key=lambda r: (r["latency_ms_per_1k"], -r["score"])):
        if row["score"] > best:
            front.append(row)
            best = row["score"]
    return front
