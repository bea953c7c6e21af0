"""The checksum record written beside each converted cache: ``mnist.npz`` -> ``mnist.manifest.json``.

It holds the sha256 and size of the .npz plus what it was converted from (the pinned source file and the converter
version), so a cache that was truncated, bit-flipped or rewritten (say, with shifted labels) is refused instead of
silently trained on, and a cache converted from another source or by an older converter is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_write_text
from kdistill.data.corrupt import one_line
from kdistill.data.sources import sha256_file
from kdistill.errors import DataError

MANIFEST_FORMAT = 1


def manifest_path(cache: Path) -> Path:
    return cache.with_suffix(".manifest.json")


def write_record(cache: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Hash ``cache`` and write its record atomically; ``fields`` say what it was converted from. Returns the record."""
    record = {"format": MANIFEST_FORMAT, "file": cache.name, "size": cache.stat().st_size,
              "sha256": sha256_file(cache), **fields}  # fmt: skip
    atomic_write_text(manifest_path(cache), json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def read_record(cache: Path) -> dict[str, Any] | None:
    """The record of ``cache``; None when there is none; DataError when it cannot be read or lacks the checksum."""
    path = manifest_path(cache)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"checksum record {path} is unreadable ({one_line(error)})") from error
    checkable = isinstance(record, dict) and isinstance(record.get("sha256"), str) and type(record.get("size")) is int
    if not checkable:
        raise DataError(f"checksum record {path} has no sha256 and size")
    return record


def record_mismatch(cache: Path, record: dict[str, Any], raw: bytes | None = None) -> str | None:
    """Why ``cache`` (or its bytes ``raw``, already read) does not match ``record``, in one line; None if it does."""
    size = len(raw) if raw is not None else cache.stat().st_size
    if size != record["size"]:
        return f"{cache} is {size} bytes but its checksum record says {record['size']} (truncated or rewritten)"
    digest = hashlib.sha256(raw).hexdigest() if raw is not None else sha256_file(cache)
    if digest != record["sha256"]:
        return (f"{cache} has sha256 {digest} but its checksum record says {record['sha256']} "
                "(changed or damaged on disk)")  # fmt: skip
    return None
