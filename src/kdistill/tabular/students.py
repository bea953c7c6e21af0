"""Small student models trained on soft targets: a decision tree, shallow gradient boosting, a linear model.

Every student is fitted on encoded inputs and targets - (n, C) class probabilities for classification, (n,) values
for regression - and returns the same kind of output from ``predict_soft``.

How soft class targets are fitted (why two ways):

- **tree**: a multi-output ``DecisionTreeRegressor`` on the probability vectors. Its squared-error split criterion
  on soft labels *is* Gini impurity reduction: within a node, Σ_c Var(p_c) = Gini(mean p) - mean_i(1 - Σ_c p_ic²),
  and the second term does not depend on the split. So this is the Gini tree for soft labels, and each leaf
  predicts the mean teacher distribution of its rows (a valid distribution), without copying rows.
- **boosting / linear**: these are additive models in logit space, whose natural loss is the cross-entropy
  -Σ_c p_c log q_c. Scikit-learn classifiers only take hard labels, but with sample weights the soft cross-entropy
  is exact: each row is repeated once per class c with label c and weight p_c. (Regressing on clipped logits
  instead lets saturated rows - teacher logits of ±15 that all mean "certain" - dominate the squared error.)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from kdistill.errors import ConfigError
from kdistill.registry import Registry

STUDENTS = Registry("tabular student")
STOP_PATIENCE = 20  # rounds without a lower validation loss before boosting stops (then the best prefix is kept)
Task = Literal["classification", "regression"]


def replicate_soft_labels(X: np.ndarray, probabilities: np.ndarray, min_weight: float = 1e-6,
                          row_weights: np.ndarray | None = None):
    """Rows x classes expansion: returns (X_rep, labels, weights) with Σ_rows weight·CE(label) = soft CE.

    ``row_weights`` (n,) scale each row's soft cross-entropy (e.g. synthetic rows weighted below real ones).
    Entries with weight below ``min_weight`` are dropped (they contribute nothing), except that every class keeps
    its heaviest row, so a classifier always learns all C classes.
    """
    n_rows, n_classes = probabilities.shape
    labels = np.repeat(np.arange(n_classes), n_rows)  # class-major: block c = all rows with label c
    weights = probabilities.T.reshape(-1)
    if row_weights is not None:
        weights = weights * np.tile(np.asarray(row_weights, dtype=np.float64), n_classes)
    keep = weights >= min_weight
    keep[np.arange(n_classes) * n_rows + probabilities.argmax(axis=0)] = True
    rows = np.tile(np.arange(n_rows), n_classes)[keep]
    return X[rows], labels[keep], weights[keep]


class SoftStudent(BaseEstimator):
    """Base: ``fit(X, targets, categorical, validation)`` then ``predict_soft(X)``; ``model_`` is the fitted model.

    ``validation`` is None or (encoded real validation rows, their true targets in the same form as ``targets``);
    students that train iteratively choose how long to train on it, the others ignore it.
    """

    encoding = "tree"

    def predict_soft(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _class_probabilities(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba laid out over all ``n_classes`` columns (model.classes_ are class indices)."""
    out = np.zeros((len(X), n_classes))
    out[:, model.classes_.astype(int)] = model.predict_proba(X)
    return out


@STUDENTS.register("tree")
class TreeStudent(SoftStudent):
    """One decision tree (readable): regression tree on teacher probabilities, or on teacher predictions.

    Reads target-ordered category codes (``"codes"`` encoding). Its size is bounded by ``max_depth`` and
    ``max_leaf_nodes`` (best-first growth), so students trained with and without a teacher can be given the same
    capacity.
    """

    encoding = "codes"

    def __init__(self, task: Task = "classification", max_depth: int | None = None, max_leaf_nodes: int | None = 255,
                 min_samples_leaf: int = 5, random_state: Any = None):
        self.task = task
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def fit(self, X: np.ndarray, targets: np.ndarray, categorical: np.ndarray | None = None,
            validation: Any = None, sample_weight: np.ndarray | None = None) -> TreeStudent:
        self.model_ = DecisionTreeRegressor(
            max_depth=self.max_depth, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, random_state=self.random_state,
        ).fit(X, targets, sample_weight=sample_weight)
        return self

    def predict_soft(self, X: np.ndarray) -> np.ndarray:
        out = self.model_.predict(X)
        if self.task == "regression":
            return out
        out = np.clip(out.reshape(len(X), -1), 0.0, None)
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


@STUDENTS.register("boosting")
class BoostingStudent(SoftStudent):
    """Histogram gradient boosting; soft cross-entropy via weighted class copies, or squared error on logits.

    ``target="probability"`` fits the teacher's probabilities with the soft cross-entropy (exact, via weighted class
    copies); ``"logit"`` (binary only) regresses the teacher's log-odds, clipped to +-``LOGIT_CLIP``.
    With ``validation`` rows passed to ``fit`` (real rows and their true targets), the number of rounds is chosen on
    them: the model keeps the prefix of its trees with the best validation loss (``n_rounds_``). Synthetic rows
    never decide when to stop.

    Reads target-ordered category codes (``"codes"`` encoding) as ordered numbers, like the tree student, not ordinal
    codes flagged for native categorical splits: for a binary or regression target a threshold on the ordered code
    is the best subset split of the rows that set the order (CART's ordering, :mod:`kdistill.tabular.codes`), and
    prediction skips two ColumnTransformers (the ordinal encoder's and the one HistGradientBoosting keeps for
    categorical features) that took most of the student's prediction time on adult (a 1k-row batch; the trees
    themselves were the smaller part).
    """

    encoding = "codes"

    def __init__(self, task: Task = "classification", max_iter: int = 50, max_depth: int | None = 3,
                 max_leaf_nodes: int | None = 31, learning_rate: float = 0.1, target: str = "probability",
                 random_state: Any = None):
        self.task = task
        self.max_iter = max_iter
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.learning_rate = learning_rate
        self.target = target
        self.random_state = random_state

    def fit(self, X: np.ndarray, targets: np.ndarray, categorical: np.ndarray | None = None,
            validation: tuple[np.ndarray, np.ndarray] | None = None,
            sample_weight: np.ndarray | None = None) -> BoostingStudent:
        if self.target not in ("probability", "logit"):
            raise ConfigError(f"boosting target must be 'probability' or 'logit'; got {self.target!r}")
        mask = categorical if categorical is not None and categorical.any() else None
        self.logit_ = self.task == "classification" and self.target == "logit"
        # Stop on the real validation rows, never on scikit-learn's own random slice of the transfer set (synthetic
        # rows say nothing about real ones): training ends STOP_PATIENCE rounds after the last gain in validation
        # loss, so a 1000-round budget costs the rounds it uses. Logit targets are stopped by the prefix cut only (the
        # built-in check would compare log-odds with labels).
        stop = validation is not None and not self.logit_
        params = dict(max_iter=self.max_iter, max_depth=self.max_depth, max_leaf_nodes=self.max_leaf_nodes,
                      learning_rate=self.learning_rate, categorical_features=mask, early_stopping=stop,
                      n_iter_no_change=STOP_PATIENCE, random_state=self.random_state)
        held_out = {}
        if stop:
            X_val, val_targets = validation
            held_out = {"X_val": X_val, "y_val": val_targets if self.task == "regression" else val_targets.argmax(axis=1)}
        if self.task == "regression":
            self.model_ = HistGradientBoostingRegressor(**params).fit(X, targets, sample_weight=sample_weight,
                                                                      **held_out)
        elif self.logit_:
            if targets.shape[1] != 2:
                raise ConfigError("boosting target='logit' needs a binary target; use target='probability'")
            self.n_classes_ = 2
            p = np.clip(targets[:, 1], 1e-7, 1 - 1e-7)
            logits = np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP)
            self.model_ = HistGradientBoostingRegressor(**params).fit(X, logits, sample_weight=sample_weight)
        else:
            self.n_classes_ = targets.shape[1]
            X_rep, labels, weights = replicate_soft_labels(X, targets, row_weights=sample_weight)
            self.model_ = HistGradientBoostingClassifier(**params).fit(X_rep, labels, sample_weight=weights, **held_out)
        self.n_rounds_ = len(self.model_._predictors)
        if validation is not None:
            self._keep_best_prefix(*validation)
        return self

    def _keep_best_prefix(self, X_val: np.ndarray, val_targets: np.ndarray) -> None:
        """Cut the trees after the round with the lowest validation loss (log loss / squared error)."""
        losses = [self._loss(out, val_targets) for out in self._staged_soft(X_val)]
        best = int(np.argmin(losses)) + 1
        # HistGradientBoosting predicts by summing self._predictors; a prefix is the model after `best` rounds.
        self.model_._predictors = self.model_._predictors[:best]  # n_iter_ reads len(_predictors)
        self.n_rounds_ = best

    def _staged_soft(self, X: np.ndarray):
        if self.task == "regression" or self.logit_:
            for out in self.model_.staged_predict(X):
                yield out if self.task == "regression" else _binary_from_logit(out)
        else:
            for out in self.model_.staged_predict_proba(X):
                full = np.zeros((len(X), self.n_classes_))
                full[:, self.model_.classes_.astype(int)] = out
                yield full

    def _loss(self, output: np.ndarray, targets: np.ndarray) -> float:
        if self.task == "regression":
            return float(np.mean((output - targets) ** 2))
        return float(-np.mean(np.sum(targets * np.log(np.clip(output, 1e-7, 1.0)), axis=1)))

    def predict_soft(self, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return self.model_.predict(X)
        if self.logit_:
            return _binary_from_logit(self.model_.predict(X))
        return _class_probabilities(self.model_, X, self.n_classes_)


LOGIT_CLIP = 8.0  # log-odds of p = 0.9997: beyond it, rows that all mean "certain" would dominate the squared error


def _binary_from_logit(logit: np.ndarray) -> np.ndarray:
    positive = 1.0 / (1.0 + np.exp(-logit))
    return np.column_stack([1.0 - positive, positive])


@STUDENTS.register("linear")
class LinearStudent(SoftStudent):
    """Logistic regression (soft cross-entropy via weighted class copies) or ridge regression."""

    encoding = "dense"

    def __init__(self, task: Task = "classification", C: float = 1.0, random_state: Any = None):
        self.task = task
        self.C = C
        self.random_state = random_state

    def fit(self, X: np.ndarray, targets: np.ndarray, categorical: np.ndarray | None = None,
            validation: Any = None, sample_weight: np.ndarray | None = None) -> LinearStudent:
        if self.task == "regression":
            self.model_ = Ridge(alpha=1.0 / self.C).fit(X, targets, sample_weight=sample_weight)
        else:
            self.n_classes_ = targets.shape[1]
            X_rep, labels, weights = replicate_soft_labels(X, targets, row_weights=sample_weight)
            self.model_ = LogisticRegression(C=self.C, max_iter=1000).fit(X_rep, labels, sample_weight=weights)
        return self

    def predict_soft(self, X: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return self.model_.predict(X)
        return _class_probabilities(self.model_, X, self.n_classes_)


def build_student(name: str, task: Task, random_state: Any = None, **params: Any) -> SoftStudent:
    """Student ``name`` for ``task`` with its keyword ``params`` (unknown keywords are refused by name)."""
    return STUDENTS.build(name, task=task, random_state=random_state, **params)
