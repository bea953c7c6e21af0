"""Every data test gets its own empty data dir, so tests never read or pollute the user's cache."""

import os

import pytest

from kdistill.data.paths import DATA_DIR_ENV

USER_DATA_DIR = os.environ.get(DATA_DIR_ENV)  # captured before any fixture changes it


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "kdistill-data"
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    return data


@pytest.fixture
def user_data_dir(isolated_data_dir, monkeypatch):
    """Undo the isolation: for slow real-data tests, so repeated runs reuse the normal cache."""
    if USER_DATA_DIR is None:
        monkeypatch.delenv(DATA_DIR_ENV)
    else:
        monkeypatch.setenv(DATA_DIR_ENV, USER_DATA_DIR)
