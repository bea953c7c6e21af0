"""Noise augmentation: jitter numeric columns with Gaussian noise and resample some categorical values.

For a row drawn at random from the training set:

- numeric column j: ``x_j + N(0, (scale * std_j)^2)``, clipped to the observed range, rounded for integer columns;
- categorical column j: with probability ``flip_prob`` replaced by a draw from the column's marginal frequencies.

Missing values stay missing. The simplest transfer set: it stays near the data but ignores feature dependencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kdistill.augment.tabular.base import AUGMENTERS, TabularAugmenter
from kdistill.augment.tabular.columns import category_codes, finish_numeric, from_codes
from kdistill.errors import ConfigError


@AUGMENTERS.register("noise")
class NoiseAugmenter(TabularAugmenter):
    """Gaussian noise on numeric columns, marginal resampling of categorical ones."""

    def __init__(self, scale: float = 0.1, flip_prob: float = 0.1, random_state: Any = None):
        if scale < 0 or not 0 <= flip_prob <= 1:
            raise ConfigError(f"noise needs scale >= 0 and 0 <= flip_prob <= 1; got {scale}, {flip_prob}")
        self.scale = scale
        self.flip_prob = flip_prob
        self.random_state = random_state

    def _sample_frame(self, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
        rows = rng.integers(0, len(self.data_), size=n_rows)
        out = {}
        for spec in self.columns_:
            column = self.data_[spec.name].iloc[rows].reset_index(drop=True)
            if spec.kind == "numeric":
                values = column.to_numpy(dtype=float, na_value=np.nan)
                std = float(np.nanstd(self.data_[spec.name].to_numpy(dtype=float, na_value=np.nan))) or 0.0
                out[spec.name] = finish_numeric(values + rng.normal(0.0, self.scale * std, n_rows), spec)
            else:
                codes = category_codes(column, spec)
                frequencies = np.bincount(category_codes(self.data_[spec.name], spec), minlength=len(spec.categories) + 1)
                flip = (rng.random(n_rows) < self.flip_prob) & (codes < len(spec.categories))
                # Draw replacements among observed (non-missing) categories, so missingness is preserved.
                observed = frequencies[: len(spec.categories)].astype(float)
                if flip.any() and observed.sum() > 0:
                    codes[flip] = rng.choice(len(observed), size=int(flip.sum()), p=observed / observed.sum())
                out[spec.name] = from_codes(codes, spec)
        return pd.DataFrame(out)
