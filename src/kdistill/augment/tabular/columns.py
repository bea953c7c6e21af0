"""What each column of a table is, so synthetic rows come back with the same types, categories and ranges.

Augmenters see a table as a list of :class:`ColumnSpec`: a column is *categorical* (pandas ``category``, strings,
objects, booleans) or *numeric* (ints and floats; ints stay integers). ``NaN`` is allowed in both kinds and is kept
as a value of its own, so synthetic rows are missing about as often, and where, the data are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from kdistill.errors import DataError


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its kind, dtype, observed range (numeric) or categories (categorical)."""

    name: Any
    kind: Literal["numeric", "categorical"]
    dtype: Any
    low: float = float("nan")
    high: float = float("nan")
    is_integer: bool = False
    categories: tuple = ()
    has_missing: bool = False


def as_frame(X: Any) -> tuple[pd.DataFrame, bool]:
    """``X`` as a DataFrame, and whether it was one (so results go back in the caller's format)."""
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True), True
    array = np.asarray(X)
    if array.ndim != 2:
        raise DataError(f"expected a 2-D table of shape (rows, features); got shape {array.shape}")
    return pd.DataFrame(array), False


def is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)


def describe_columns(frame: pd.DataFrame) -> list[ColumnSpec]:
    specs = []
    for name in frame.columns:
        series = frame[name]
        missing = bool(series.isna().any())
        if is_categorical(series):
            if isinstance(series.dtype, pd.CategoricalDtype):
                categories = tuple(series.cat.categories)
            else:
                categories = tuple(pd.unique(series.dropna()))
            specs.append(ColumnSpec(name, "categorical", series.dtype, categories=categories, has_missing=missing))
        else:
            values = series.to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            is_integer = pd.api.types.is_integer_dtype(series.dtype) or bool(
                finite.size and np.all(finite == np.round(finite))
            )
            specs.append(ColumnSpec(name, "numeric", series.dtype, low, high, is_integer, has_missing=missing))
    return specs


def category_codes(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Integer codes into ``spec.categories``; missing (or unseen) -> ``len(categories)`` (its own level)."""
    codes = pd.Categorical(series, categories=list(spec.categories)).codes.astype(np.int64)
    codes[codes < 0] = len(spec.categories)
    return codes


def from_codes(codes: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Inverse of :func:`category_codes`, in the column's original dtype."""
    values = pd.Categorical.from_codes(np.where(codes >= len(spec.categories), -1, codes), list(spec.categories))
    if isinstance(spec.dtype, pd.CategoricalDtype):
        return pd.Series(values).astype(spec.dtype)
    # Strings/objects/bools: back to a plain column of the original values (missing -> None/NaN).
    return pd.Series(np.asarray(values, dtype=object)).astype(spec.dtype, errors="ignore")


def finish_numeric(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Clip to the observed range, round integer columns, and cast back to the column's dtype."""
    values = np.clip(values, spec.low, spec.high)
    if spec.is_integer:
        values = np.round(values)
    series = pd.Series(values)
    if pd.api.types.is_integer_dtype(spec.dtype) and not np.isnan(values).any():
        return series.astype(spec.dtype)
    return series.astype(float) if pd.api.types.is_integer_dtype(spec.dtype) else series.astype(spec.dtype)


def restore_format(frame: pd.DataFrame, was_frame: bool) -> Any:
    """Give synthetic rows back in the caller's format: a DataFrame, or a 2-D array."""
    return frame if was_frame else frame.to_numpy()
