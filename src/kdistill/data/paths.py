"""Where kdistill keeps fetched source files and converted dataset caches."""

from __future__ import annotations

import os
from pathlib import Path

from kdistill.data.corrupt import one_line
from kdistill.data.tempfiles import remove_stale_temp_files
from kdistill.errors import DataError

DATA_DIR_ENV = "KDISTILL_DATA_DIR"


def data_dir() -> Path:
    """``$KDISTILL_DATA_DIR`` if set, else ``~/.cache/kdistill/data``; created on demand.

    Each use also removes temporary files that interrupted writes left there (see ``tempfiles.py``); that costs one
    directory listing of the data dir and of its ``sources`` folder.
    """
    configured = os.environ.get(DATA_DIR_ENV)
    path = Path(configured).expanduser() if configured else Path.home() / ".cache" / "kdistill" / "data"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot use data dir {path} ({one_line(error)}); point ${DATA_DIR_ENV} at a writable "
                        "folder") from error
    remove_stale_temp_files(path)
    remove_stale_temp_files(path / "sources")
    return path
