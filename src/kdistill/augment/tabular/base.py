"""The augmenter contract and registry.

An augmenter is fitted on the training inputs and then draws synthetic rows from them::

    augmenter = build_augmenter("gibbs", random_state=0).fit(X_train)
    X_synthetic = augmenter.sample(3 * len(X_train))       # same columns, dtypes and ranges as X_train

``augment(X, name, multiplier)`` does both; the transfer set is the training rows plus ``multiplier * len(X)``
synthetic rows, all labelled by the teacher.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kdistill.augment.tabular.columns import (
    ColumnSpec,
    as_frame,
    describe_columns,
    restore_format,
)
from kdistill.errors import ConfigError
from kdistill.registry import Registry

AUGMENTERS = Registry("tabular augmenter")
SAMPLE_CHUNK_ROWS = 50_000


class TabularAugmenter:
    """Base: ``fit`` records the columns and the data; subclasses implement ``_sample_frame(n_rows, rng)``."""

    random_state: Any

    def fit(self, X: Any) -> TabularAugmenter:
        frame, self.was_frame_ = as_frame(X)
        if len(frame) < 2:
            raise ConfigError(f"{type(self).__name__} needs at least 2 rows to learn from; got {len(frame)}")
        self.columns_: list[ColumnSpec] = describe_columns(frame)
        self.data_ = frame
        self._fit_frame(frame, np.random.default_rng(self.random_state))
        return self

    def _fit_frame(self, frame: pd.DataFrame, rng: np.random.Generator) -> None:
        """Hook for augmenters that learn something beyond the columns (e.g. Gibbs conditionals)."""

    def sample(self, n_rows: int, progress: bool = False) -> Any:
        """``n_rows`` synthetic rows in the format ``fit`` saw (DataFrame or array). Seeded by ``random_state``.

        Drawn in chunks of ``SAMPLE_CHUNK_ROWS`` rows (bounded working memory at 10x a large table; a progress bar
        counts rows when ``progress``).
        """
        if not hasattr(self, "columns_"):
            raise ConfigError(f"call {type(self).__name__}.fit(X) before sample()")
        # A fresh generator per call with a fixed offset: sample() is reproducible and independent of fit's draws.
        rng = np.random.default_rng(None if self.random_state is None else [int(self.random_state), 1])
        n_rows = int(n_rows)
        chunks = []
        with tqdm(total=n_rows, desc=f"{type(self).__name__} rows", unit="row", disable=not progress) as bar:
            for start in range(0, n_rows, SAMPLE_CHUNK_ROWS):
                size = min(SAMPLE_CHUNK_ROWS, n_rows - start)
                chunks.append(self._sample_frame(size, rng))
                bar.update(size)
        frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else (chunks or [self._sample_frame(0, rng)])[0]
        return restore_format(frame[[spec.name for spec in self.columns_]], self.was_frame_)

    def _sample_frame(self, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
        raise NotImplementedError


def build_augmenter(name: str, **params: Any) -> TabularAugmenter:
    return AUGMENTERS.build(name, **params)


def augment(X: Any, name: str, multiplier: float, random_state: Any = None, progress: bool = False,
            **params: Any) -> Any:
    """``round(multiplier * len(X))`` synthetic rows from augmenter ``name`` fitted on ``X`` (training rows excluded)."""
    if multiplier < 0:
        raise ConfigError(f"augmentation multiplier must be >= 0; got {multiplier}")
    n_rows = int(round(multiplier * len(X)))
    augmenter = build_augmenter(name, random_state=random_state, **params).fit(X)
    return augmenter.sample(n_rows, progress=progress)
