"""Small, fast splits of the bundled digits dataset for the procedure tests."""

import pytest

from kdistill.procedures import load_splits


@pytest.fixture(scope="session")
def digit_splits(digits):
    return load_splits("digits", val_size=200, seed=0)
