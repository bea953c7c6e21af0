"""Columns as small discrete variables, the state space of the Gibbs sampler.

A numeric column becomes quantile bins (at most ``n_bins``; each distinct value is its own bin when there are
few), a categorical column its category codes; a missing value is one more code of its own. Decoding a numeric bin
draws uniformly between the smallest and largest training value in that bin, so values stay inside the observed
range and integer columns stay integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kdistill.augment.tabular.columns import ColumnSpec, category_codes, finish_numeric, from_codes


@dataclass
class ColumnCoder:
    """Encodes one column into codes ``0..n_codes-1`` and decodes codes back into values."""

    spec: ColumnSpec
    edges: np.ndarray  # numeric: inner bin edges for np.searchsorted; categorical: unused
    bin_low: np.ndarray  # numeric: smallest training value per bin
    bin_high: np.ndarray  # numeric: largest training value per bin

    @property
    def n_codes(self) -> int:
        base = len(self.spec.categories) if self.spec.kind == "categorical" else len(self.bin_low)
        return base + 1  # + the missing code

    @property
    def missing_code(self) -> int:
        return self.n_codes - 1

    def encode(self, series: pd.Series) -> np.ndarray:
        if self.spec.kind == "categorical":
            return category_codes(series, self.spec)
        values = series.to_numpy(dtype=float, na_value=np.nan)
        codes = np.searchsorted(self.edges, values, side="right").astype(np.int64)
        codes[np.isnan(values)] = self.missing_code
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        if self.spec.kind == "categorical":
            return from_codes(codes, self.spec)
        missing = codes == self.missing_code
        safe = np.where(missing, 0, codes)
        values = rng.uniform(self.bin_low[safe], self.bin_high[safe])
        if self.spec.is_integer:
            # Uniform over the integers in [low, high], not a rounded float, so end values are not under-drawn.
            values = np.floor(rng.uniform(self.bin_low[safe], self.bin_high[safe] + 1.0))
            values = np.minimum(values, self.bin_high[safe])
        values[missing] = np.nan
        return finish_numeric(values, self.spec)


def fit_coder(series: pd.Series, spec: ColumnSpec, n_bins: int) -> ColumnCoder:
    if spec.kind == "categorical":
        return ColumnCoder(spec, np.empty(0), np.empty(0), np.empty(0))
    values = series.to_numpy(dtype=float, na_value=np.nan)
    finite = np.sort(values[np.isfinite(values)])
    if finite.size == 0:
        return ColumnCoder(spec, np.empty(0), np.zeros(1), np.zeros(1))
    distinct = np.unique(finite)
    if distinct.size <= n_bins:
        # Few distinct values: one bin each; edges halfway between neighbours.
        edges = (distinct[:-1] + distinct[1:]) / 2.0
        return ColumnCoder(spec, edges, distinct, distinct)
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = np.searchsorted(edges, finite, side="right")
    present = np.unique(bins)
    lows = np.array([finite[bins == b].min() for b in present])
    highs = np.array([finite[bins == b].max() for b in present])
    # Re-derive edges from the bins that hold data, so every code maps to a non-empty bin.
    return ColumnCoder(spec, edges[present[1:] - 1], lows, highs)
