"""Remove temporary files that interrupted writes left in the data dir.

``kdistill.atomic.atomic_path`` writes ``.NAME.XXXXXXXX.tmp`` beside its target and fetches download into
``.fetch-XXXXXXXX`` / ``.pip-XXXXXXXX`` / ``.apt-XXXXXXXX`` folders; a killed process leaves them behind (a converted
MNIST is 55 MB each time). Only entries untouched for an hour are removed: a younger one may belong to a process that
is writing it right now, and deleting that would make its final ``os.replace`` fail.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

from kdistill.atomic import TEMPORARY_NAME

log = logging.getLogger("kdistill")

STALE_AFTER_SECONDS = 3600.0
# tempfile names are the prefix plus 8 characters from "abcdefghijklmnopqrstuvwxyz0123456789_".
ATOMIC_TEMP_FILE = TEMPORARY_NAME  # what kdistill.atomic names its temporaries
FETCH_TEMP_DIR = re.compile(r"^\.(fetch|pip|apt)-[a-z0-9_]{8}$")


def remove_stale_temp_files(folder: Path, max_age: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Delete stale atomic-write temp files and fetch temp folders directly in ``folder``; return what was removed.

    Never raises: cleaning up is a courtesy, and another process may be removing the same entries concurrently.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    now = time.time()
    removed = []
    for entry in entries:
        try:
            is_temp_file = ATOMIC_TEMP_FILE.match(entry.name) and entry.is_file(follow_symlinks=False)
            is_temp_dir = FETCH_TEMP_DIR.match(entry.name) and entry.is_dir(follow_symlinks=False)
            if not (is_temp_file or is_temp_dir) or now - entry.stat(follow_symlinks=False).st_mtime < max_age:
                continue
            if is_temp_dir:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:  # gone already (another process cleaned it), or not ours to delete
            continue
        log.info("removed %s, left by an interrupted write", entry.path)
        removed.append(Path(entry.path))
    return removed
