"""Where kdistill keeps fetched source files and converted dataset caches."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "KDISTILL_DATA_DIR"


def data_dir() -> Path:
    """``$KDISTILL_DATA_DIR`` if set, else ``~/.cache/kdistill/data``; created on demand."""
    configured = os.environ.get(DATA_DIR_ENV)
    path = Path(configured).expanduser() if configured else Path.home() / ".cache" / "kdistill" / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path

