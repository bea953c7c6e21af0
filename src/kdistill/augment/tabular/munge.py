"""MUNGE (Bucilă, Caruana & Niculescu-Mizil, "Model Compression", KDD 2006).

For each synthetic row, take a training row ``e`` and its nearest neighbour ``e'`` (Euclidean distance on
standardised numeric columns plus Hamming distance on categorical ones). Then, for every column ``a``, with
probability ``swap_prob``:

- categorical: ``e_a <- e'_a`` (the paper swaps the two values; we keep the modified ``e``);
- numeric: ``e_a ~ N(e'_a, sd)`` with ``sd = |e_a - e'_a| / local_var_scale``.

Numeric draws are clipped to the observed range and rounded for integer columns; if either value is missing the
value is swapped rather than drawn. Small ``local_var_scale`` (s) spreads samples further from the data.
Neighbours are searched among at most ``max_candidates`` rows (exact search on the full set is quadratic).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from kdistill.augment.tabular.base import AUGMENTERS, TabularAugmenter
from kdistill.augment.tabular.columns import category_codes, finish_numeric, from_codes
from kdistill.errors import ConfigError


def distance_features(frame: pd.DataFrame, columns) -> np.ndarray:
    """Rows embedded so that squared Euclidean distance = sum of squared z-score gaps + number of category mismatches."""
    parts = []
    for spec in columns:
        if spec.kind == "numeric":
            values = frame[spec.name].to_numpy(dtype=float, na_value=np.nan)
            mean, std = np.nanmean(values) if np.isfinite(values).any() else 0.0, np.nanstd(values) or 1.0
            parts.append(np.nan_to_num((values - mean) / std)[:, None])
        else:
            codes = category_codes(frame[spec.name], spec)
            # One-hot scaled by 1/sqrt(2): two different one-hots are sqrt(2) apart, so a mismatch adds exactly 1.
            parts.append(np.eye(len(spec.categories) + 1)[codes] / np.sqrt(2.0))
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


@AUGMENTERS.register("munge")
class MungeAugmenter(TabularAugmenter):
    """MUNGE: swap or locally resample each attribute towards the nearest neighbour (Bucilă et al. 2006)."""

    def __init__(
        self, swap_prob: float = 0.5, local_var_scale: float = 1.0, max_candidates: int = 20000, random_state: Any = None
    ):
        if not 0 <= swap_prob <= 1 or local_var_scale <= 0:
            raise ConfigError(f"munge needs 0 <= swap_prob <= 1 and local_var_scale > 0; got {swap_prob}, {local_var_scale}")
        self.swap_prob = swap_prob
        self.local_var_scale = local_var_scale
        self.max_candidates = max_candidates
        self.random_state = random_state

    def _fit_frame(self, frame: pd.DataFrame, rng: np.random.Generator) -> None:
        embedded = distance_features(frame, self.columns_)
        candidates = np.arange(len(frame))
        if len(frame) > self.max_candidates:
            candidates = np.sort(rng.choice(len(frame), size=self.max_candidates, replace=False))
        search = NearestNeighbors(n_neighbors=min(2, len(candidates))).fit(embedded[candidates])
        _, found = search.kneighbors(embedded)
        # The nearest candidate is the row itself when it is a candidate; then take the second.
        is_self = candidates[found[:, 0]] == np.arange(len(frame))
        self.neighbour_ = candidates[np.where(is_self & (found.shape[1] > 1), found[:, -1], found[:, 0])]

    def _sample_frame(self, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
        rows = rng.integers(0, len(self.data_), size=n_rows)
        neighbours = self.neighbour_[rows]
        out = {}
        for spec in self.columns_:
            own = self.data_[spec.name].iloc[rows].reset_index(drop=True)
            other = self.data_[spec.name].iloc[neighbours].reset_index(drop=True)
            change = rng.random(n_rows) < self.swap_prob
            if spec.kind == "categorical":
                codes = np.where(change, category_codes(other, spec), category_codes(own, spec))
                out[spec.name] = from_codes(codes, spec)
                continue
            a = own.to_numpy(dtype=float, na_value=np.nan)
            b = other.to_numpy(dtype=float, na_value=np.nan)
            sd = np.abs(a - b) / self.local_var_scale
            drawn = rng.normal(np.nan_to_num(b), np.nan_to_num(sd))
            drawn = np.where(np.isnan(a) | np.isnan(b), b, drawn)  # missing on either side: swap
            out[spec.name] = finish_numeric(np.where(change, drawn, a), spec)
        return pd.DataFrame(out)
