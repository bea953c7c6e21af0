"""Read a user's table for ``kdistill tabular fit`` and split off its target; each problem is one DataError line.

Files: CSV (``.csv``, or compressed ``.csv.gz`` / ``.bz2`` / ``.xz`` / ``.zip``) and Parquet (``.parquet``, ``.pq``,
or ``.parquet.<codec>`` such as ``adult.parquet.brotli``: the codec compresses columns inside the Parquet file, and
pyarrow reads it like any other).

Rows whose target is missing (NaN, empty cell) carry no label to learn or score: they are dropped and the count is
returned so the caller can say so. A target missing in every row is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from kdistill.errors import ConfigError, DataError

CSV_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zip")  # pandas infers these from the name
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_CODECS = (".brotli", ".gzip", ".gz", ".snappy", ".zstd", ".lz4")  # names pandas' to_parquet docs use
TABLE_KINDS = ".csv or .parquet (also .csv.gz, .parquet.brotli, ...)"


def table_kind(path: Path) -> Literal["csv", "parquet"] | None:
    """"csv" or "parquet" from the file name (``a.csv.gz``, ``b.parquet.brotli``), None for anything else."""
    name = path.name.lower()
    if name.endswith(tuple(".csv" + compression for compression in ("", *CSV_COMPRESSIONS))):
        return "csv"
    if name.endswith((*PARQUET_SUFFIXES, *(".parquet" + codec for codec in PARQUET_CODECS))):
        return "parquet"
    return None


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"data file {path} does not exist; pass --data FILE as {TABLE_KINDS}")
    if not path.is_file():
        raise DataError(f"--data {path} is not a file; pass a table file: {TABLE_KINDS}")
    kind = table_kind(path)
    if kind is None:
        raise DataError(f"cannot read {path.name}: --data must be {TABLE_KINDS}")
    try:
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except ImportError as error:  # pandas found no Parquet engine
        raise ConfigError("reading Parquet needs pyarrow: pip install 'kdistill[tabular]'") from error
    except Exception as error:  # pandas and pyarrow raise many types for a corrupt or mis-named file
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(f"cannot read {path} as {kind.upper()} ({type(error).__name__}: {first_line}); "
                        "check that the file is complete and its name matches its format") from error


def drop_missing_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """(rows whose ``target`` is present, number of rows dropped); refuses a missing column or an all-missing target."""
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise DataError(f"target column '{target}' is not in the data; columns are: {shown}")
    if frame.empty:
        raise DataError("the data file has no rows; give a table with at least a few labelled rows")
    missing = frame[target].isna()
    if missing.all():
        raise DataError(f"target '{target}' is missing (NaN or empty) in all {len(frame)} rows; "
                        "pick a column that has values")
    return frame[~missing], int(missing.sum())


def infer_task(target: pd.Series, requested: str) -> str:
    if requested != "auto":
        return requested
    if not pd.api.types.is_numeric_dtype(target.dtype) or pd.api.types.is_bool_dtype(target.dtype):
        return "classification"
    integral = pd.api.types.is_integer_dtype(target.dtype) or (target.dropna() % 1 == 0).all()
    return "classification" if integral and target.nunique() <= 20 else "regression"


def infinite_count(column: pd.Series) -> int:
    if not pd.api.types.is_float_dtype(column.dtype):  # only floats can hold infinity
        return 0
    return int(np.isinf(column.to_numpy(dtype=np.float64, na_value=np.nan)).sum())


def split_features(frame: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y) of a frame whose target has no missing values; string columns become pandas categories."""
    y = frame[target]
    if task == "classification" and y.nunique() < 2:
        raise DataError(f"target '{target}' has a single class ({y.iloc[0]!r} in all {len(y)} rows); "
                        "a classifier needs at least 2 classes")
    if task == "regression" and not pd.api.types.is_numeric_dtype(y.dtype):
        raise DataError(f"target '{target}' is not numeric; use --task classification or pick a numeric column")
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"the data has no feature columns besides the target '{target}'")
    for name in [target, *X.columns]:
        n_infinite = infinite_count(frame[name])
        if n_infinite:
            raise DataError(f"column '{name}' is infinite in {n_infinite} rows; replace those cells with finite "
                            "numbers or leave them empty (missing)")
    for column in X.columns:  # strings become categories: the encoders and augmenters read them as such
        if X[column].dtype == object or pd.api.types.is_string_dtype(X[column].dtype):
            X[column] = X[column].astype("category")
    return X, y
