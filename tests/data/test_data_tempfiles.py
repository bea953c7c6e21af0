"""Temp files that interrupted writes leave in the data dir are removed on its next use, once they are stale."""

import os
import time

import pytest

from kdistill.atomic import atomic_path
from kdistill.data.paths import DATA_DIR_ENV, data_dir
from kdistill.data.tempfiles import ATOMIC_TEMP_FILE, STALE_AFTER_SECONDS
from kdistill.errors import DataError


def make(path, age_seconds, folder=False):
    if folder:
        (path / ".pip-abcdefgh").mkdir(parents=True)  # a fetch killed inside pip
    else:
        path.write_bytes(b"half a file")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_data_dir_removes_stale_temp_files(isolated_data_dir):
    old = STALE_AFTER_SECONDS + 60
    sources = isolated_data_dir / "sources"
    sources.mkdir(parents=True)
    stale = [make(isolated_data_dir / ".mnist.npz.ab_cd123.tmp", old),
             make(isolated_data_dir / ".mnist.manifest.json.x1y2z3w4.tmp", old),
             make(sources / ".fetch-k2j4h6g8", old, folder=True)]  # fmt: skip
    kept = [make(isolated_data_dir / ".mnist.npz.fresh123.tmp", 5),  # may be a write in progress right now
            make(isolated_data_dir / "mnist.npz", old),
            make(isolated_data_dir / ".keep.tmp", old)]  # fmt: skip
    data_dir()
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)


def test_the_pattern_matches_what_atomic_path_writes(tmp_path):
    """If atomic.py ever renames its temp files, this fails instead of the cleanup silently finding nothing."""
    with atomic_path(tmp_path / "mnist.npz") as temporary:
        assert ATOMIC_TEMP_FILE.match(temporary.name)
        temporary.write_bytes(b"x")


def test_unusable_data_dir_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(DATA_DIR_ENV, str(blocker / "data"))
    with pytest.raises(DataError, match=f"cannot use data dir .*{DATA_DIR_ENV}"):
        data_dir()
