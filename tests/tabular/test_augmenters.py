"""Every registered augmenter: row count, column types, categories and ranges kept; seeded runs reproducible."""

import numpy as np
import pandas as pd
import pytest

from kdistill.augment.tabular import AUGMENTERS, augment, build_augmenter
from kdistill.errors import ConfigError


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_samples_keep_types_and_ranges(name, table):
    X, _ = table
    synthetic = augment(X, name, multiplier=2, random_state=0)
    assert list(synthetic.columns) == list(X.columns)
    assert len(synthetic) == 2 * len(X)
    assert synthetic.dtypes.to_dict() == X.dtypes.to_dict()
    for column in ("income", "age"):
        values = synthetic[column].dropna()
        assert values.min() >= X[column].min() and values.max() <= X[column].max()
    assert (synthetic["age"] == synthetic["age"].round()).all()
    assert set(synthetic["colour"].dropna()) <= set(X["colour"].cat.categories)
    assert set(synthetic["city"].dropna()) <= {"a", "b"}
    # Missingness is carried over, not invented or erased.
    assert synthetic["income"].isna().any() and not synthetic["age"].isna().any()


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_seeded_runs_are_reproducible(name, table):
    X, _ = table
    first = augment(X, name, multiplier=1, random_state=3)
    again = augment(X, name, multiplier=1, random_state=3)
    other = augment(X, name, multiplier=1, random_state=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


@pytest.mark.parametrize("name", AUGMENTERS.names())
def test_arrays_in_arrays_out(name):
    X = np.random.default_rng(0).normal(size=(50, 3))
    synthetic = augment(X, name, multiplier=0.5, random_state=0)
    assert isinstance(synthetic, np.ndarray) and synthetic.shape == (25, 3)


def test_sample_before_fit_and_bad_multiplier_are_refused(table):
    with pytest.raises(ConfigError, match="fit"):
        build_augmenter("noise").sample(3)
    with pytest.raises(ConfigError, match="multiplier"):
        augment(table[0], "noise", multiplier=-1)


def test_munge_neighbour_is_another_row():
    X = np.array([[0.0], [0.1], [5.0], [5.2]])
    augmenter = build_augmenter("munge", random_state=0).fit(X)
    np.testing.assert_array_equal(augmenter.neighbour_, [1, 0, 3, 2])
