"""Fashion-MNIST from the Debian ``dataset-fashion-mnist`` package, converted once into ``fashion-mnist.npz``.

The package ships the original gzip'd idx files. Installed system-wide (``apt-get install``, root) they live under
``/usr/share/datasets/fashion-mnist/``; without root, ``kdistill data fetch fashion-mnist`` keeps the verified .deb
in the data dir and we read the files straight out of it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from kdistill.data.converted import Conversion, load_converted, register_conversion
from kdistill.data.corrupt import corrupt_file_errors
from kdistill.data.npz import image_schema
from kdistill.data.sources import get_source, pinned_source_file, read_deb_members, source_path, source_record
from kdistill.errors import DataError

log = logging.getLogger("kdistill")

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
# sha256 of each file as the pinned .deb ships it (computed from the verified dataset-fashion-mnist .deb): files at
# the system path come from whatever package is installed there, so each one is checked before it is read.
FILE_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
REFETCH = f"reinstall the package, or run `kdistill data fetch {NAME}` (it re-fetches a damaged .deb)"
NOT_INSTALLED = (
    "Fashion-MNIST is not installed; run `apt-get install dataset-fashion-mnist` (root) "
    f"or `kdistill data fetch {NAME}` (no root)"
)


def parse_idx_images(raw: bytes) -> np.ndarray:
    """Decode an idx3 image file (16-byte header: magic 2051, count, rows, cols) -> uint8 (N, rows, cols)."""
    if len(raw) < 16:
        raise DataError(f"not an idx3 image file (only {len(raw)} bytes); {REFETCH}")
    magic, count, rows, cols = (int(value) for value in np.frombuffer(raw, dtype=">i4", count=4))
    if magic != 2051 or min(count, rows, cols) < 0 or len(raw) != 16 + count * rows * cols:
        raise DataError(f"not an idx3 image file (magic {magic}, {len(raw)} bytes); {REFETCH}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols).copy()


def parse_idx_labels(raw: bytes) -> np.ndarray:
    """Decode an idx1 label file (8-byte header: magic 2049, count) -> int64 (N,)."""
    if len(raw) < 8:
        raise DataError(f"not an idx1 label file (only {len(raw)} bytes); {REFETCH}")
    magic, count = (int(value) for value in np.frombuffer(raw, dtype=">i4", count=2))
    if magic != 2049 or len(raw) != 8 + count:
        raise DataError(f"not an idx1 label file (magic {magic}, {len(raw)} bytes); {REFETCH}")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def decode_idx_files(compressed: dict[str, bytes], origin: str = "Fashion-MNIST") -> dict[str, np.ndarray]:
    """{file name: gzip bytes} -> {x_train, y_train, x_test, y_test} arrays; ``origin`` names where they came from."""
    missing = sorted(set(FILES.values()) - set(compressed))
    if missing:
        raise DataError(f"Fashion-MNIST files missing: {', '.join(missing)}; {REFETCH}")
    arrays = {}
    for key, filename in FILES.items():
        with corrupt_file_errors(f"{origin} file {filename}", REFETCH):  # a cut gzip raises EOFError, a bad one OSError
            raw = gzip.decompress(compressed[filename])
        arrays[key] = parse_idx_images(raw) if key.startswith("x") else parse_idx_labels(raw)
    return arrays


def fashion_mnist_cache_path() -> Path:
    return FASHION_MNIST.cache_path


def _read_system_files() -> dict[str, bytes]:
    """The idx files at the system path, each checked against the pinned package's sha256 before use."""
    with corrupt_file_errors(f"Fashion-MNIST folder {SYSTEM_DIR}", REFETCH):
        files = {name: (SYSTEM_DIR / name).read_bytes() for name in FILES.values() if (SYSTEM_DIR / name).exists()}
    for name, raw in files.items():
        got = hashlib.sha256(raw).hexdigest()
        if got != FILE_SHA256[name]:
            raise DataError(f"checksum mismatch for {SYSTEM_DIR / name}: expected sha256 {FILE_SHA256[name]} (the file "
                            f"of {get_source(NAME).package}), got {got}; {REFETCH}")
    return files


def convert_fashion_mnist(download: bool, repair: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Decode the idx files of the installed package, else of the pinned .deb (fetched if allowed)."""
    if SYSTEM_DIR.is_dir():
        try:
            return decode_idx_files(_read_system_files(), str(SYSTEM_DIR)), {"kind": "system", "path": str(SYSTEM_DIR)}
        except DataError as error:
            if not repair:
                raise
            log.warning("%s; using the pinned .deb instead", error)
    try:
        deb = pinned_source_file(NAME, download, repair)
    except DataError as error:
        if source_path(NAME).exists():  # a damaged .deb: its own message names the fix
            raise
        raise DataError(f"{NOT_INSTALLED} ({error})") from error
    with corrupt_file_errors(f"Fashion-MNIST source {deb}", REFETCH):
        members = read_deb_members(deb, get_source(NAME).member)
    return decode_idx_files(members, str(deb)), source_record(NAME)


FASHION_MNIST = register_conversion(Conversion(NAME, SCHEMA, convert_fashion_mnist))


def load_fashion_mnist_arrays(download: bool = True) -> dict[str, np.ndarray]:
    """Fashion-MNIST as numpy arrays: uint8 images (N, 28, 28), int64 labels (N,); 60,000 train / 10,000 test.

    Order of preference: the verified npz cache, the installed Debian package, a cached verified .deb, then
    (``download=True``) ``apt-get download`` of the pinned .deb.
    """
    return load_converted(FASHION_MNIST, download)
