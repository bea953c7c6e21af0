"""Small, fast splits of the bundled digits dataset for the procedure tests."""

import pytest

from kdistill.procedures import Splits
from kdistill.data import split_validation


@pytest.fixture(scope="session")
def digit_splits(digits):
    train_x, train_y, val_x, val_y = split_validation(digits.train_images, digits.train_labels, 200, seed=0)
    return Splits(train_x, train_y, val_x, val_y, digits.test_images, digits.test_labels, 10)
