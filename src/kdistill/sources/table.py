"""``table``: one CSV or parquet file, a ``target`` column of class labels and numeric feature columns.

Each sample's inputs are a float32 vector (F,). The table is read into memory once (tables are small next to image
sets); rows are cut into train/val/test by a seeded stratified split. Categorical features need encoding first:
``kdistill tabular`` does that for tree and MLP students, or drop the column. Needs pandas (``kdistill[tabular]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdistill.errors import ConfigError, DataError
from kdistill.sources.arrays import ArrayConverter, ArrayDataset
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceInfo, one_line, user_path
from kdistill.sources.splits import SplitOptions, stratified_split

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".csv.zip")


@dataclass(kw_only=True)
class TableOptions(SplitOptions):
    """``path`` (.csv or .parquet, also e.g. .parquet.brotli), the ``target`` column, and the ``features``
    (default: every other column, all must be numeric)."""

    path: str
    target: str
    features: list[str] | None = None


def table_format(path: Path) -> str:
    """"csv" or "parquet" from the file name (a parquet file may carry its codec as a suffix: x.parquet.brotli)."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if ".parquet" in name or name.endswith(".pq"):
        return "parquet"
    raise DataError(f"cannot tell the format of {path.name}; name it .csv or .parquet (also .parquet.brotli etc.)")


def read_table(path: Path) -> Any:
    try:
        import pandas as pd
    except ImportError as error:
        raise DataError("the table source needs pandas; install it with `pip install 'kdistill[tabular]'`") from error
    if not path.is_file():
        raise DataError(f"table {path} does not exist; set path to a .csv or .parquet file")
    fmt = table_format(path)
    try:
        return pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except ImportError as error:  # parquet needs pyarrow
        raise DataError(f"reading {path.name} needs pyarrow; install it with `pip install 'kdistill[tabular]'`") \
            from error
    except Exception as error:
        raise DataError(f"cannot read {path} as {fmt} ({one_line(error)}); check the file") from error


def class_ids(target: Any, path: Path, column: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Target column -> (class ids (N,) int64, class names): ids index the sorted distinct values."""
    import pandas as pd

    if target.isna().any():
        raise DataError(f"target column '{column}' of {path} has {int(target.isna().sum())} missing values; drop or "
                        "fill those rows")
    if pd.api.types.is_float_dtype(target) and not np.all(np.mod(target.to_numpy(), 1) == 0):
        raise DataError(f"target column '{column}' of {path} holds non-integer numbers; this source is for class "
                        "labels (use `kdistill tabular` for regression)")
    values, ids = np.unique(target.to_numpy(), return_inverse=True)
    names = tuple(str(int(v)) if isinstance(v, (float, np.floating)) else str(v) for v in values)
    return torch.from_numpy(ids.astype(np.int64).reshape(-1)), names


@DATA_SOURCES.register("table")
class TableSource(DataSource):
    """A CSV or parquet table: numeric feature columns -> float32 vectors (F,), one target column of class labels."""

    Options = TableOptions

    @cached_property
    def _table(self) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...], list[str]]:
        """(features (N, F) float32, class ids (N,), class names, feature names)."""
        import pandas as pd

        path = user_path(self.options.path)
        frame = read_table(path)
        columns = [str(c) for c in frame.columns]
        features = self.options.features
        if features is None:
            features = [c for c in columns if c != self.options.target]
        for column in [self.options.target, *features]:
            if column not in columns:
                raise DataError(f"column '{column}' is not in {path}; columns: {', '.join(columns)}")
        if self.options.target in features:
            raise ConfigError(f"target column '{self.options.target}' is also listed in features; remove it there")
        if not features:
            raise DataError(f"{path} has no feature columns besides target '{self.options.target}'")
        for column in features:
            series = frame[column]
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise DataError(f"feature column '{column}' of {path} is not numeric ({series.dtype}); drop it from "
                                "features or encode it (`kdistill tabular` handles categorical columns)")
            if series.isna().any():
                raise DataError(f"feature column '{column}' of {path} has {int(series.isna().sum())} missing values; "
                                "fill them or drop the column from features")
        inputs = torch.from_numpy(frame[features].to_numpy(dtype=np.float32, copy=True))  # (N, F)
        labels, names = class_ids(frame[self.options.target], path, self.options.target)
        return inputs, labels, names, features

    @cached_property
    def _split_rows(self) -> dict[str, torch.Tensor]:
        _, labels, _, _ = self._table
        return stratified_split(labels, self.options, f"table {self.options.path}")

    @property
    def feature_names(self) -> list[str]:
        return list(self._table[3])

    @property
    def info(self) -> SourceInfo:
        inputs, _, names, _ = self._table
        return SourceInfo(len(names), names, (int(inputs.shape[1]),), tuple(self._split_rows))

    def open(self, split: str) -> ArrayDataset:
        self.check_split(split)
        inputs, labels, _, _ = self._table
        rows = self._split_rows[split]
        return ArrayDataset(inputs[rows], labels[rows], ArrayConverter("raw", scale_uint8=False))
