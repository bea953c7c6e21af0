"""Datasets converted once from a pinned source file into a checked ``.npz`` cache: load, inspect and repair.

A cache is trusted only together with its checksum record (``manifest.py``):

- ``cached``: the record matches the file -> loaded.
- ``missing``: no file -> converted from the verified source (fetched first if allowed).
- ``unverified``: a file without a record (written by kdistill before records existed, or a write interrupted between
  the two), or converted from another source file / by an older converter -> rebuilt on load, nothing is lost.
- ``corrupt``: the file does not match its record (truncated, bit-flipped, rewritten) or the record is unreadable ->
  a one-line DataError on load; ``kdistill data fetch NAME`` rebuilds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kdistill.data.corrupt import one_line
from kdistill.data.manifest import MANIFEST_FORMAT, manifest_path, read_record, record_mismatch, write_record
from kdistill.data.npz import Schema, load_npz_bytes, save_npz_atomic
from kdistill.data.paths import DATA_DIR_ENV, data_dir
from kdistill.data.sources import SOURCES
from kdistill.errors import DataError

log = logging.getLogger("kdistill")

# convert(download, repair) -> (arrays, source record). download: may fetch a missing source file; repair: may also
# replace a cached source file that fails its checksum (``kdistill data fetch``).
Converter = Callable[[bool, bool], tuple[dict[str, np.ndarray], dict[str, Any]]]
Status = Literal["cached", "missing", "unverified", "corrupt"]


@dataclass(frozen=True)
class Conversion:
    """How dataset ``name`` becomes ``<data dir>/<name>.npz``. Bump ``version`` whenever ``convert``'s output changes,
    so caches written by the older converter are rebuilt instead of trusted."""

    name: str
    schema: Schema
    convert: Converter
    version: int = 1

    @property
    def cache_path(self) -> Path:
        return data_dir() / f"{self.name}.npz"


@dataclass(frozen=True)
class CacheState:
    status: Status
    detail: str = ""  # why it is unverified or corrupt, one line


CONVERSIONS: dict[str, Conversion] = {}


def register_conversion(conversion: Conversion) -> Conversion:
    CONVERSIONS[conversion.name] = conversion
    return conversion


def fetch_fix(name: str) -> str:
    return f"rebuild it with `kdistill data fetch {name}`"


def outdated_reason(conversion: Conversion, record: dict[str, Any]) -> str | None:
    """Why a cache with an intact record is still not the one the current code would build; None if it is."""
    if record.get("format") != MANIFEST_FORMAT or record.get("dataset") != conversion.name:
        return f"its checksum record is not a format-{MANIFEST_FORMAT} record for '{conversion.name}'"
    if record.get("converter_version") != conversion.version:
        return f"converted by converter version {record.get('converter_version')}, current is {conversion.version}"
    pinned, source = SOURCES.get(conversion.name), record.get("source") or {}
    if pinned is not None and source.get("kind") == pinned.kind and source.get("sha256") != pinned.sha256:
        return f"converted from {source.get('package')}, not the pinned {pinned.package}"
    return None


def inspect_cache(conversion: Conversion, keep_bytes: bool = False) -> tuple[CacheState, bytes | None]:
    """The state of ``conversion``'s cache; with ``keep_bytes`` also the verified bytes when it is ``cached``.

    Costs one sha256 over the file (55 MB for MNIST) and no array parsing.
    """
    cache = conversion.cache_path
    if not cache.exists():
        return CacheState("missing"), None
    try:
        record = read_record(cache)
    except DataError as error:
        return CacheState("corrupt", str(error)), None
    if record is None:
        return CacheState("unverified", f"{cache} has no checksum record (written by an older kdistill?)"), None
    outdated = outdated_reason(conversion, record)
    if outdated is not None:
        return CacheState("unverified", f"{cache} is out of date: {outdated}"), None
    try:
        raw = cache.read_bytes() if keep_bytes else None
        mismatch = record_mismatch(cache, record, raw)
    except OSError as error:
        return CacheState("corrupt", f"{cache} is unreadable ({one_line(error)})"), None
    if mismatch is not None:
        return CacheState("corrupt", mismatch), None
    return CacheState("cached"), raw


def rebuild(conversion: Conversion, download: bool, repair: bool) -> None:
    """Convert from the verified source and write the cache and then its record."""
    arrays, source = conversion.convert(download, repair)
    cache = conversion.cache_path
    fields = {"dataset": conversion.name, "converter_version": conversion.version, "source": source}
    try:
        # Drop the old record first: a reader that comes between the two writes then sees an unverified cache (and
        # rebuilds it too, byte-identically) rather than a new file under an old record (corrupt).
        manifest_path(cache).unlink(missing_ok=True)
        save_npz_atomic(cache, **arrays)
        write_record(cache, fields)
    except OSError as error:
        raise DataError(f"cannot write {cache} ({one_line(error)}); free disk space or point ${DATA_DIR_ENV} at "
                        "a writable folder") from error


def load_converted(conversion: Conversion, download: bool) -> dict[str, np.ndarray]:
    """The cache's arrays, verified against its record; converted first when missing or unverified."""
    state, raw = inspect_cache(conversion, keep_bytes=True)
    if state.status == "corrupt":
        raise DataError(f"{conversion.name} cache is corrupt: {state.detail}; {fetch_fix(conversion.name)}")
    if state.status != "cached":
        if state.status == "unverified":
            log.info("%s; rebuilding it from the verified source", state.detail)
        try:
            rebuild(conversion, download, repair=False)
        except DataError as error:
            raise DataError(f"{state.detail}; {error}" if state.detail else str(error)) from error
        state, raw = inspect_cache(conversion, keep_bytes=True)
        if state.status != "cached":  # another process rewrote it in between, or the disk lost it
            raise DataError(f"{conversion.name} cache did not verify right after writing: {state.detail}; "
                            f"{fetch_fix(conversion.name)}")
    assert raw is not None  # cached implies the bytes were kept
    return load_npz_bytes(raw, conversion.schema, conversion.cache_path, conversion.name)


def repair_converted(conversion: Conversion) -> CacheState:
    """What ``kdistill data fetch`` does: keep a cache that verifies and parses, else rebuild it (re-fetching a bad
    source file too). Returns the state found before any repair."""
    state, raw = inspect_cache(conversion, keep_bytes=True)
    if state.status == "cached":
        assert raw is not None
        try:
            load_npz_bytes(raw, conversion.schema, conversion.cache_path, conversion.name)
            return state
        except DataError as error:  # the record matches, but the converter that wrote it was wrong
            state = CacheState("corrupt", str(error))
    if state.status != "missing":
        log.warning("%s: %s; rebuilding it", conversion.name, state.detail)
    rebuild(conversion, download=True, repair=True)
    return state
