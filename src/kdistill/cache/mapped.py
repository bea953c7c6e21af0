"""Shard files read through memory maps in whole batches, with the pages they bring in handed back so RSS stays flat.

A mapped page that a read touches stays in this process's resident set until it is unmapped, so a reader that only
ever maps pages would end up holding the whole cache. ``MappedShards`` therefore counts, per read, an *upper bound*
on the bytes it can have brought in - every row costs the pages it spans, and at least the kernel's fault-around
window, since one page fault maps up to that many neighbouring cached pages - and once that count passes
``release_every_bytes`` it drops every map it touched since the last release (``madvise(MADV_DONTNEED)``: the pages
leave this process but stay in the OS page cache, so the next read is a cheap minor fault, not disk I/O).

Counting bytes *copied out* instead (what this module replaced) undercounts by the page/row ratio: a 20-byte logits
row costs a whole page, so the threshold was never crossed and the whole cache ended up resident.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

RELEASE_EVERY_BYTES = 64 << 20  # bound on mapped cache pages held between releases
PAGE_BYTES = mmap.PAGESIZE
FAULT_AROUND_BYTES = 64 << 10  # Linux maps up to 64 KiB of already-cached pages around a read fault (default)


def bytes_brought_in(rows: int, row_bytes: int) -> int:
    """Upper bound on the mapped bytes that reading ``rows`` rows of ``row_bytes`` each can make resident."""
    pages_spanned = (row_bytes + PAGE_BYTES - 2) // PAGE_BYTES + 1  # a row straddling page boundaries
    return rows * max(pages_spanned * PAGE_BYTES, FAULT_AROUND_BYTES)


class MappedShards:
    """Read-only maps of ``<stem>.<name>.npy`` files, each seen as rows ``(n · V, *per-view shape)``.

    Row ``(i - shard_start) · V + v`` of a shard holds sample ``i`` at view ``v`` (the files are ``(n, V, ...)``).
    """

    def __init__(self, folder: Path, views: int, release_every_bytes: int = RELEASE_EVERY_BYTES):
        self.folder = folder
        self.views = views
        self.release_every_bytes = release_every_bytes
        self.bytes_since_release = 0  # upper bound on mapped bytes made resident since the last release
        self.releases = 0
        self.threshold_releases = 0  # the releases note_read triggered
        self._rows: dict[tuple[str, str], np.ndarray] = {}
        self._maps: dict[tuple[str, str], mmap.mmap] = {}
        self._touched: set[tuple[str, str]] = set()

    def rows(self, stem: str, name: str) -> np.ndarray:
        """The shard's array as a plain ndarray of rows (no np.memmap subclass: its indexing is ~10x slower)."""
        key = (stem, name)
        if key not in self._rows:
            mapped = np.load(self.folder / f"{stem}.{name}.npy", mmap_mode="r")  # (n, V, *shape)
            self._maps[key] = mapped._mmap
            self._rows[key] = np.asarray(mapped).reshape(-1, *mapped.shape[2:])  # (n · V, *shape), a view
        self._touched.add(key)
        return self._rows[key]

    def note_read(self, rows: int, row_bytes: int) -> None:
        """Account for a read of ``rows`` rows; release the touched maps once the bound passes the threshold."""
        self.bytes_since_release += bytes_brought_in(rows, row_bytes)
        if self.bytes_since_release > self.release_every_bytes:
            self.threshold_releases += 1
            self.release()

    def release(self) -> None:
        """Unmap the pages of every map read since the last release (they stay in the OS page cache)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            for key in self._touched:
                self._maps[key].madvise(mmap.MADV_DONTNEED)
        self._touched.clear()
        self.bytes_since_release = 0
        self.releases += 1
