"""Hold-out splits of a table's rows: stratified by class, or by quantile bin of a regression target.

Used for the validation rows an estimator carves from its training rows (to compare the distilled student with the
same student trained directly, to stop the teacher early and to pick a student within a budget) and for the test
rows ``kdistill tabular fit`` holds out for its report. Stratifying a regression target by its quantile bins keeps
the tails in both parts, so a small validation split does not miss the expensive houses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from kdistill.errors import DataError

MAX_TARGET_BINS = 10


def strata(y: Any, task: str, n_holdout: int) -> np.ndarray | None:
    """Labels to stratify on: the classes, or regression quantile bins; None when some stratum has < 2 rows.

    (n,) -> (n,) int codes. Regression uses at most ``MAX_TARGET_BINS`` bins and no more than the hold-out can
    give one row each.
    """
    y = np.asarray(y)
    if task == "classification":
        codes = np.unique(y.astype(str), return_inverse=True)[1]
    else:
        n_bins = int(min(MAX_TARGET_BINS, n_holdout, len(y) - n_holdout))
        if n_bins < 2:
            return None
        edges = np.unique(np.nanquantile(y.astype(np.float64), np.linspace(0, 1, n_bins + 1)[1:-1]))
        codes = np.searchsorted(edges, y.astype(np.float64), side="right")
    counts = np.bincount(codes)
    if counts[counts > 0].min() < 2 or np.count_nonzero(counts) > min(n_holdout, len(y) - n_holdout):
        return None
    return codes


def holdout_rows(y: Any, task: str, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept row positions, held-out row positions): ``share`` of the rows held out, stratified when possible."""
    n_rows = len(y)
    n_holdout = int(np.ceil(share * n_rows))
    if not 0 < n_holdout < n_rows:
        raise DataError(f"cannot hold out {share:g} of {n_rows} rows; give more rows or another share")
    rows = np.arange(n_rows)
    kept, held = train_test_split(rows, test_size=n_holdout, stratify=strata(y, task, n_holdout), random_state=seed)
    return np.sort(kept), np.sort(held)


def take_rows(X: Any, rows: np.ndarray) -> Any:
    """Rows of a DataFrame (index reset) or an array, by position."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows].reset_index(drop=True)
    return np.asarray(X)[rows]
