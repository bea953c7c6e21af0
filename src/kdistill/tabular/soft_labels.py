"""Soft targets for the student, from the teacher's outputs.

Classification: the teacher's probabilities p, tempered and optionally mixed with the true labels on real rows,

    p_T = softmax(log p / T),      target = (1 - w) * p_T + w * onehot(y)      (w = label_weight; real rows only)

A student trained on p_T predicts tempered probabilities q_T; predictions are un-tempered with
``q = softmax(T * log q_T)``, which is exact when the student matches p_T. Synthetic rows have no true label and
always get the pure teacher target.

Regression: ``target = (1 - w) * teacher_prediction + w * y`` on real rows, the teacher's prediction elsewhere.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7  # probabilities are clipped here before logs: trees predict exact zeros


def temper(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) row-wise: (n, C) -> (n, C). T = 1 returns the input (renormalised)."""
    logits = np.log(np.clip(probabilities, EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def untemper(tempered: np.ndarray, temperature: float) -> np.ndarray:
    """Inverse of :func:`temper`: softmax(T * log q_T)."""
    return temper(tempered, 1.0 / temperature)


def one_hot(class_index: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[class_index]


def classification_targets(
    teacher_probabilities: np.ndarray, real_class_index: np.ndarray, temperature: float, label_weight: float
) -> np.ndarray:
    """(n_transfer, C) targets; the first ``len(real_class_index)`` rows are the real (labelled) rows."""
    targets = temper(teacher_probabilities, temperature)
    n_real = len(real_class_index)
    if label_weight > 0:
        labels = one_hot(real_class_index, targets.shape[1])
        targets[:n_real] = (1 - label_weight) * targets[:n_real] + label_weight * labels
    return targets


def regression_targets(teacher_predictions: np.ndarray, y_real: np.ndarray, label_weight: float) -> np.ndarray:
    targets = np.asarray(teacher_predictions, dtype=np.float64).reshape(-1).copy()
    if label_weight > 0:
        n_real = len(y_real)
        targets[:n_real] = (1 - label_weight) * targets[:n_real] + label_weight * np.asarray(y_real, dtype=np.float64)
    return targets
