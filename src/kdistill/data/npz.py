"""Converted dataset caches: ``.npz`` files written atomically and byte-for-byte reproducibly, checked on load.

A cache holds plain arrays only, so it is read with ``allow_pickle=False``: once a third-party file has been converted,
nothing from it is ever unpickled again. Its sha256 is recorded beside it (see ``manifest.py``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from kdistill.atomic import atomic_path
from kdistill.data.corrupt import corrupt_file_errors
from kdistill.errors import DataError

# name -> (shape with None for "any length", dtype)
Schema = dict[str, tuple[tuple[int | None, ...], np.dtype]]


def image_schema(height: int, width: int, train: int | None = None, test: int | None = None) -> Schema:
    """Schema of an image cache: uint8 images (N, H, W) and int64 labels (N,) for train and test."""
    return {
        "x_train": ((train, height, width), np.dtype(np.uint8)),
        "y_train": ((train,), np.dtype(np.int64)),
        "x_test": ((test, height, width), np.dtype(np.uint8)),
        "y_test": ((test,), np.dtype(np.int64)),
    }


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` atomically: a crash mid-write never leaves a truncated cache a later run trusts.

    The bytes depend on the arrays alone (np.savez stamps members with zipfile's fixed 1980-01-01 date), so two
    processes converting at once write identical files and either one's checksum record fits the file left behind;
    a test guards this.
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)  # a file handle stops np.savez from appending ".npz" to the temporary name


def load_npz_bytes(raw: bytes, schema: Schema, path: Path, name: str) -> dict[str, np.ndarray]:
    """Parse the bytes of cache ``path`` and check every array against ``schema``; DataError with the fix if not.

    Parsing the bytes that were hashed (rather than re-opening the file) means the arrays are exactly what was
    verified.
    """
    fix = f"rebuild it with `kdistill data fetch {name}`"
    with corrupt_file_errors(f"cache {path}", fix), np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in schema if key in archive}
    for key, (shape, dtype) in schema.items():
        if key not in arrays:
            raise DataError(f"cache {path} lacks array '{key}'; {fix}")
        array = arrays[key]
        shape_ok = array.ndim == len(shape) and all(want in (None, got) for want, got in zip(shape, array.shape))
        if not shape_ok or array.dtype != dtype:
            raise DataError(f"cache {path}: '{key}' is {array.dtype}{array.shape}, expected {dtype}{shape}; {fix}")
    for split in ("train", "test"):
        images, labels = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if images is not None and labels is not None and len(images) != len(labels):
            raise DataError(f"cache {path}: {split} image and label counts differ; {fix}")
    return arrays

