"""scikit-learn's 8x8 digits: 1,797 tiny images bundled with scikit-learn, for fast tests and smoke runs."""

from __future__ import annotations

import numpy as np

from kdistill.errors import DataError

DIGITS_TEST_SIZE = 360  # 1,437 train / 360 test, about the usual 80/20


def load_digits_arrays(test_size: int = DIGITS_TEST_SIZE, seed: int = 0) -> dict[str, np.ndarray]:
    """Digits as numpy arrays: float32 images (N, 1, 8, 8) in [0, 1], int64 labels (N,), split by a fixed seed.

    Pixel values are 0..16 in the source, hence the division by 16. The split is a seeded permutation, so it is the
    same on every machine and scikit-learn version.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise DataError(
            "the 'digits' dataset needs scikit-learn; install it with `pip install 'kdistill[tabular]'`"
        ) from error
    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    test, train = order[:test_size], order[test_size:]
    return {"x_train": images[train], "y_train": labels[train], "x_test": images[test], "y_test": labels[test]}
