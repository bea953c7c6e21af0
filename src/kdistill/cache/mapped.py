"""Reading shard files so that the process's RSS does not grow with the cache.

Two kinds of reads:

- *per-batch gathers* (stored features; logits when one view's table is over budget) read each row with ``pread``
  into the output array: no page of the file is ever mapped into this process, so RSS stays flat however large the
  cache is (the OS page cache still keeps hot rows, outside the process's RSS);
- *bulk reads* (decoding one view's logits table) go through a read-only memory map, and the caller releases the
  pages right after with ``release()`` (``madvise(MADV_DONTNEED)``), so at most one shard's file is resident.

Why not map everything and release every N bytes (what this module did before): on current kernels one read fault
maps a whole page-cache folio - up to megabytes - so five batches of 128 random 2.4 KB rows mapped ~350 MB of a
369 MB cache, far beyond any per-row bound (measured: benchmarks/results/teacher_cache.md, RSS section).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from kdistill.errors import CheckpointError


class ShardFiles:
    """The ``<stem>.<name>.npy`` files of a cache folder, each seen as rows ``(n · V, *per-view shape)``.

    Row ``(i - shard_start) · V + v`` of a shard holds sample ``i`` at view ``v`` (the files are ``(n, V, ...)``).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.releases = 0
        self._files: dict[tuple[str, str], tuple[int, int, int]] = {}  # -> (fd, data offset, bytes per row)
        self._rows: dict[tuple[str, str], np.ndarray] = {}
        self._maps: dict[tuple[str, str], mmap.mmap] = {}
        self._touched: set[tuple[str, str]] = set()

    def gather(self, stem: str, name: str, rows: np.ndarray, out: np.ndarray) -> None:
        """Read rows ``rows`` (R,) of the file into ``out`` (R, *shape), C-contiguous, with one pread per row."""
        fd, offset, row_bytes = self._open(stem, name)
        target = memoryview(out).cast("B")
        for position, row in enumerate(rows.tolist()):
            chunk = target[position * row_bytes : (position + 1) * row_bytes]
            if os.preadv(fd, [chunk], offset + row * row_bytes) != row_bytes:
                raise CheckpointError(f"teacher cache file {self.folder / f'{stem}.{name}.npy'} ends before row {row} "
                                      "(truncated after the cache was opened?); rerun `kdistill cache build RECIPE`")

    def mapped(self, stem: str, name: str) -> np.ndarray:
        """The shard's array as rows of a read-only map (a plain ndarray view); ``release()`` after a bulk read."""
        key = (stem, name)
        if key not in self._rows:
            array = np.load(self.folder / f"{stem}.{name}.npy", mmap_mode="r")  # (n, V, *shape)
            self._maps[key] = array._mmap
            self._rows[key] = np.asarray(array).reshape(-1, *array.shape[2:])  # (n · V, *shape), a view
        self._touched.add(key)
        return self._rows[key]

    def release(self) -> None:
        """Unmap the pages of every map read since the last release (they stay in the OS page cache)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            for key in self._touched:
                self._maps[key].madvise(mmap.MADV_DONTNEED)
        self._touched.clear()
        self.releases += 1

    def _open(self, stem: str, name: str) -> tuple[int, int, int]:
        key = (stem, name)
        if key not in self._files:
            path = self.folder / f"{stem}.{name}.npy"
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(handle)
                offset = handle.tell()
            row_bytes = dtype.itemsize * int(np.prod(shape[2:], dtype=np.int64))
            self._files[key] = (os.open(path, os.O_RDONLY), offset, row_bytes)
        return self._files[key]

    def close(self) -> None:
        for fd, _, _ in self._files.values():
            os.close(fd)
        self._files.clear()

    def __del__(self) -> None:
        self.close()
