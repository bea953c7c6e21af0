"""Fashion-MNIST from the Debian ``dataset-fashion-mnist`` package, converted once into ``fashion-mnist.npz``.

The package ships the original gzip'd idx files. Installed system-wide (``apt-get install``, root) they live under
``/usr/share/datasets/fashion-mnist/``; without root, ``kdistill data fetch fashion-mnist`` keeps the verified .deb
in the data dir and we read the files straight out of it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from kdistill.data.npz import image_schema, load_npz_checked, save_npz_atomic
from kdistill.data.paths import data_dir
from kdistill.data.sources import cached_source, fetch_source, get_source, read_deb_members
from kdistill.errors import DataError

NAME = "fashion-mnist"
SCHEMA = image_schema(28, 28, train=60_000, test=10_000)
SYSTEM_DIR = Path("/") / get_source(NAME).member
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
REFETCH = f"reinstall the package, or delete the cached fashion-mnist.deb and run `kdistill data fetch {NAME}`"
NOT_INSTALLED = (
    "Fashion-MNIST is not installed; run `apt-get install dataset-fashion-mnist` (root) "
    f"or `kdistill data fetch {NAME}` (no root)"
)


def parse_idx_images(raw: bytes) -> np.ndarray:
    """Decode an idx3 image file (16-byte header: magic 2051, count, rows, cols) -> uint8 (N, rows, cols)."""
    magic, count, rows, cols = np.frombuffer(raw, dtype=">i4", count=4)
    if magic != 2051 or len(raw) != 16 + count * rows * cols:
        raise DataError(f"not an idx3 image file (magic {magic}, {len(raw)} bytes); {REFETCH}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols).copy()


def parse_idx_labels(raw: bytes) -> np.ndarray:
    """Decode an idx1 label file (8-byte header: magic 2049, count) -> int64 (N,)."""
    magic, count = np.frombuffer(raw, dtype=">i4", count=2)
    if magic != 2049 or len(raw) != 8 + count:
        raise DataError(f"not an idx1 label file (magic {magic}, {len(raw)} bytes); {REFETCH}")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def decode_idx_files(compressed: dict[str, bytes]) -> dict[str, np.ndarray]:
    """{file name: gzip bytes} -> {x_train, y_train, x_test, y_test} arrays."""
    missing = sorted(set(FILES.values()) - set(compressed))
    if missing:
        raise DataError(f"Fashion-MNIST files missing: {', '.join(missing)}; {REFETCH}")
    arrays = {}
    for key, filename in FILES.items():
        raw = gzip.decompress(compressed[filename])
        arrays[key] = parse_idx_images(raw) if key.startswith("x") else parse_idx_labels(raw)
    return arrays


def fashion_mnist_cache_path() -> Path:
    return data_dir() / "fashion-mnist.npz"


def _read_idx_files(download: bool) -> dict[str, bytes]:
    if SYSTEM_DIR.is_dir():
        return {name: (SYSTEM_DIR / name).read_bytes() for name in FILES.values() if (SYSTEM_DIR / name).exists()}
    deb = cached_source(NAME)
    if deb is None:
        if not download:
            raise DataError(NOT_INSTALLED)
        try:
            deb = fetch_source(NAME)
        except DataError as error:
            raise DataError(f"{NOT_INSTALLED} ({error})") from error
    return read_deb_members(deb, get_source(NAME).member)


def load_fashion_mnist_arrays(download: bool = True) -> dict[str, np.ndarray]:
    """Fashion-MNIST as numpy arrays: uint8 images (N, 28, 28), int64 labels (N,); 60,000 train / 10,000 test.

    Order of preference: the npz cache, the installed Debian package, a cached verified .deb, then (``download=True``)
    ``apt-get download`` of the pinned .deb.
    """
    cache = fashion_mnist_cache_path()
    if cache.exists():
        return load_npz_checked(cache, SCHEMA, NAME)
    save_npz_atomic(cache, **decode_idx_files(_read_idx_files(download)))
    return load_npz_checked(cache, SCHEMA, NAME)
