"""Gibbs sampling over per-feature conditionals (FAST-DAD; Fakoor, Mueller, Erickson, Chaudhari & Smola,
"Fast, Accurate, and Simple Models for Tabular Data via Augmented Distillation", NeurIPS 2020).

Each column is discretised (:mod:`kdistill.augment.tabular.discretize`) and one classifier per column ``i`` is fit
to ``p(x_i | x_-i)`` on the training rows. A chain starts at a random training row and runs ``n_rounds`` sweeps;
a sweep visits the columns in random order and redraws each from its conditional given the current other values:

    x_i  ~  p_hat(x_i | x_-i),   i in permutation(columns)

Starting at real rows with few sweeps keeps samples near the data manifold while mixing feature values across
rows - the regime FAST-DAD found best for distillation. FAST-DAD models all conditionals with one masked
self-attention network; we fit one small decision tree per column (cheap on CPU, needs no tuning); any scikit-learn
classifier with ``predict_proba`` can be passed as ``conditional``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

from kdistill.augment.tabular.base import AUGMENTERS, TabularAugmenter
from kdistill.augment.tabular.discretize import ColumnCoder, fit_coder
from kdistill.errors import ConfigError


def sample_categorical(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from ``probabilities`` (n, k) by inverting the row-wise CDF: returns (n,) column indices."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    return np.minimum((u >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


@AUGMENTERS.register("gibbs")
class GibbsAugmenter(TabularAugmenter):
    """FAST-DAD Gibbs sampler: chains from training rows, resampling columns from per-feature conditionals."""

    def __init__(
        self,
        n_rounds: int = 1,
        n_bins: int = 20,
        conditional: Any = None,
        max_fit_rows: int = 20000,
        random_state: Any = None,
    ):
        if n_rounds < 1 or n_bins < 2:
            raise ConfigError(f"gibbs needs n_rounds >= 1 and n_bins >= 2; got {n_rounds}, {n_bins}")
        self.n_rounds = n_rounds
        self.n_bins = n_bins
        self.conditional = conditional
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def _fit_frame(self, frame: pd.DataFrame, rng: np.random.Generator) -> None:
        self.coders_: list[ColumnCoder] = [fit_coder(frame[s.name], s, self.n_bins) for s in self.columns_]
        self.codes_ = self.encode(frame)  # (n, d) int
        fit_rows = self.codes_
        if len(fit_rows) > self.max_fit_rows:
            fit_rows = fit_rows[rng.choice(len(fit_rows), size=self.max_fit_rows, replace=False)]
        template = self.conditional or DecisionTreeClassifier(min_samples_leaf=20, max_depth=8)
        self.conditionals_ = []
        for i in range(fit_rows.shape[1]):
            model = clone(template)
            if "random_state" in model.get_params():
                model.set_params(random_state=int(rng.integers(2**31)))
            # A column with a single code needs no model: it is redrawn as itself.
            if np.unique(fit_rows[:, i]).size > 1:
                model.fit(np.delete(fit_rows, i, axis=1), fit_rows[:, i])
            else:
                model = None
            self.conditionals_.append(model)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([c.encode(frame[c.spec.name]) for c in self.coders_])

    def conditional_probabilities(self, state: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
        """``p_hat(x_column | x_-column)`` for each row of ``state``: (codes (k,), probabilities (n, k))."""
        model = self.conditionals_[column]
        return model.classes_, model.predict_proba(np.delete(state, column, axis=1))

    def _sample_frame(self, n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
        state = self.codes_[rng.integers(0, len(self.codes_), size=n_rows)].copy()
        for _ in range(self.n_rounds):
            for column in rng.permutation(state.shape[1]):
                if self.conditionals_[column] is None or n_rows == 0:
                    continue
                classes, probabilities = self.conditional_probabilities(state, column)
                state[:, column] = classes[sample_categorical(probabilities, rng)]
        return pd.DataFrame({c.spec.name: c.decode(state[:, i], rng) for i, c in enumerate(self.coders_)})
