"""Shared test setup: one CPU thread (the test machine is shared) and the small bundled digits dataset."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits (1,437 train / 360 test, 1x8x8, 10 classes): bundled, no download."""
    from kdistill.data import load_dataset

    return load_dataset("digits")
