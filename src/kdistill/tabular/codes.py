"""Category codes for tree students: a table becomes one float column per input column, with no pandas on the hot path.

Numbers pass through as floats (NaN stays NaN: scikit-learn trees route it natively). Each categorical column
becomes one code per category, ordered by the mean training target of its rows, so a threshold split
``code <= c`` is a split into two category subsets:

    score(category) = mean over its rows of project(target),   codes = rank of score

For a binary (or regression) target, the best split of a categorical column is one of these "ordered" subsets
(Breiman et al. 1984, CART §9.4), so one threshold on the code finds what one-hot needs many splits for. For C > 2
classes the targets are projected on their first principal direction (Coppersmith, Hong & Hosking 1999).
Targets are whatever the student fits: teacher probabilities when distilled, true labels when trained directly.

Missing values and categories never seen in training (including categories of the dtype that no training row has)
become NaN: they are treated as missing, which the tree routes like the missing values it saw.
``transform`` looks up each column's pandas category codes in a precomputed table: (n, d) float64 in a few
vectorised numpy operations per column, so prediction latency is the tree's, not the encoder's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from kdistill.augment.tabular.columns import is_categorical
from kdistill.tabular.validation import TableError


def target_scores(targets: np.ndarray) -> np.ndarray:
    """(n,) regression targets or (n, C) class targets -> (n,) scores whose per-category means order the codes."""
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim == 1:
        return targets
    if targets.shape[1] == 2:
        return targets[:, 1]
    centred = targets - targets.mean(axis=0)
    _, _, directions = np.linalg.svd(centred.T @ centred)  # (C, C) scatter: cheap for any n
    return centred @ directions[0]


class CategoryCodeEncoder(TransformerMixin, BaseEstimator):
    """Numbers as floats, categories as target-ordered codes; NaN and unseen categories -> NaN. Keeps column order.

    ``fit(X, targets)``: ``X`` a DataFrame (categorical, string, object, boolean columns are coded) or a numeric
    array (passed through); ``targets`` (n,) or (n, C), or None to order categories as the data list them.
    Learned: ``categorical_`` (positions), ``categories_`` (position -> list of categories, in code order).
    """

    def __init__(self, order_by_target: bool = True):
        self.order_by_target = order_by_target

    def fit(self, X: Any, y: Any = None) -> CategoryCodeEncoder:
        X = X if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray([str(name) for name in X.columns], dtype=object)
        frame = X if isinstance(X, pd.DataFrame) else None
        self.categorical_ = [] if frame is None else [i for i in range(X.shape[1]) if is_categorical(frame.iloc[:, i])]
        scores = target_scores(y) if self.order_by_target and y is not None else None
        self.categories_ = {}
        for position in self.categorical_:
            column = as_categorical(frame.iloc[:, position])
            codes = column.cat.codes.to_numpy()
            present = np.unique(codes[codes >= 0])  # categories that training rows hold
            if scores is not None and present.size:
                means = np.bincount(codes[codes >= 0], weights=scores[codes >= 0], minlength=len(column.cat.categories))
                counts = np.bincount(codes[codes >= 0], minlength=len(column.cat.categories))
                present = present[np.argsort(means[present] / counts[present], kind="stable")]
            self.categories_[position] = [column.cat.categories[i] for i in present]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "categories_")
        X = X if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise TableError(f"X has {X.shape[1]} columns; the encoder was fitted on {self.n_features_in_}")
        if not isinstance(X, pd.DataFrame):
            if self.categorical_:
                raise TableError("this encoder was fitted on a DataFrame with categorical columns; pass a DataFrame")
            return X
        out = np.empty(X.shape, dtype=np.float64)  # (n, d)
        numeric = [i for i in range(X.shape[1]) if i not in set(self.categorical_)]
        if numeric:
            # One conversion for all numeric columns (a per-column loop costs ~20 us of pandas overhead per column:
            # most of a 1k-row prediction on an 85-column table).
            out[:, numeric] = X.iloc[:, numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        names = X.columns
        for position in self.categorical_:
            # A label lookup skips .iloc's tuple indexing (several times slower per column); duplicates need iloc.
            column = X[names[position]] if names.is_unique else X.iloc[:, position]
            out[:, position] = self._codes(as_categorical(column), position)
        if np.isinf(out).any():
            raise TableError("X contains infinity; replace it with NaN (missing) or a finite value")
        return out

    def _codes(self, column: pd.Series, position: int) -> np.ndarray:
        """Lookup table from this column's own category codes to ours (last entry: pandas' -1 = missing)."""
        ours = {category: code for code, category in enumerate(self.categories_[position])}
        # .tolist() converts in one call; iterating an Arrow-backed category index goes element by element.
        table = np.array([ours.get(category, np.nan) for category in column.cat.categories.tolist()] + [np.nan])
        return table[column.cat.codes.to_numpy()]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "categories_")
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_.copy()
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def legend(self) -> str:
        """One line per categorical column: ``name: 0=first, 1=second, ...`` (how to read a split on its code)."""
        names = self.get_feature_names_out()
        lines = [f"{names[position]}: " + ", ".join(f"{code}={category}" for code, category in enumerate(categories))
                 for position, categories in self.categories_.items()]
        return "\n".join(lines)


def as_categorical(column: pd.Series) -> pd.Series:
    """The column as a pandas categorical (free for ``category`` columns; strings/objects/booleans are hashed once)."""
    return column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")


def transform_by_column(encoder: CategoryCodeEncoder, X: pd.DataFrame) -> np.ndarray:
    """Reference for :meth:`CategoryCodeEncoder.transform`: one pandas conversion per column (the encoder before it
    was vectorised). Slow; tests and ``benchmarks/tabular_latency.py`` check the fast path against it."""
    out = np.empty(X.shape, dtype=np.float64)
    for position in range(X.shape[1]):
        column = X.iloc[:, position]
        if position in set(encoder.categorical_):
            out[:, position] = encoder._codes(as_categorical(column), position)
        else:
            out[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return out
