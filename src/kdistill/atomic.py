"""Atomic file writes: a reader (or a run killed mid-write) sees the old file or the new one, never half of one.

A write goes to ``.NAME.XXXXXXXX.tmp`` beside ``NAME`` and replaces it in one ``os.replace``. A process killed
mid-write leaves that temporary behind; :func:`remove_stale_temporaries` sweeps such leftovers when a folder is opened
again. A full disk (or a file-size limit) and a folder that cannot be written end in a one-line error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kdistill.errors import CheckpointError

# mkstemp's names: our prefix and suffix around 8 characters of [a-z0-9_] (data/tempfiles.py matches the same)
TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
# when this process began writing (roughly: when kdistill was imported); temporaries older than this are dead
PROCESS_STARTED = time.time()
DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one ``os.replace``.

    Write the temporary through a file you open yourself (or a library that writes in place): a library that itself
    writes elsewhere and renames onto it (safetensors' ``save_file`` does) replaces our file and its permissions.
    """
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        # mkstemp creates the file 0600; give the final file the permissions a plain open() would (0666 - umask)
        os.chmod(temporary, 0o666 & ~current_umask())
        yield Path(temporary)
        os.replace(temporary, path)
    except OSError as error:
        mapped = write_error(error, path)
        if mapped is error:
            raise
        raise mapped from error
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; flushed to disk first, so a full disk fails here, not at a later read."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_error(error: OSError, path: Path) -> OSError | CheckpointError:
    """A one-line error for a full disk or an unwritable folder; any other OSError unchanged."""
    if error.errno in DISK_FULL:
        return disk_full_error(error, path.parent)
    if error.errno in NOT_WRITABLE:
        return CheckpointError(f"cannot write {path} ({error.strerror}); make {path.parent} a writable folder or "
                               "choose another one")
    return error


def disk_full_error(error: OSError, folder: str | os.PathLike) -> CheckpointError:
    """Disk full (ENOSPC), quota (EDQUOT) or file-size limit (EFBIG) while writing into ``folder``."""
    return CheckpointError(f"no room to write into {folder} ({error.strerror}); free space on that disk (or use a "
                           "folder on another one) and run again - an interrupted run continues from its last "
                           "checkpoint with `kdistill run --resume RUN_DIR`")


def is_temporary(name: str) -> bool:
    """Is ``name`` a temporary that :func:`atomic_path` creates?"""
    return TEMPORARY_NAME.match(name) is not None


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float = PROCESS_STARTED) -> list[Path]:
    """Delete leftovers of interrupted atomic writes anywhere under ``folder`` (modified before ``older_than``, a
    time.time(): a temporary still being written by a live process is newer); returns what was removed.

    Call it only where one process writes the folder (rank 0 of a run), when it is opened again.
    """
    removed = []
    for path in sorted(Path(folder).rglob(".*.tmp")):
        try:
            if is_temporary(path.name) and path.is_file() and path.stat().st_mtime < older_than:
                path.unlink()
                removed.append(path)
        except OSError:  # gone already, or not ours to delete: cleaning up never fails a run
            continue
    return removed
