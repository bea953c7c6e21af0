"""Input checks shared by the distilled estimators: scikit-learn's rules, but tables keep their column types."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from kdistill.errors import DataError


class TableError(DataError, ValueError):
    """The table cannot be learned from. A ValueError too, as scikit-learn's estimator checks expect."""


class TargetError(TableError):
    """The target cannot be learned (one class, labels the teacher does not know)."""


def validate_table(estimator: Any, X: Any, y: Any = None, reset: bool = True, y_numeric: bool = False,
                   check_frame_values: bool = True):
    """Check ``X`` (and ``y``) as scikit-learn does, and return them.

    A DataFrame is returned as-is (index reset) so categorical and string columns reach the teacher untouched;
    anything else becomes a float array. Missing values are allowed, infinities and complex numbers are not.
    ``check_frame_values=False`` (predicting, with an encoder that checks values itself) checks only a
    DataFrame's column names and count: scanning every cell of a mixed frame costs more than a small tree.
    """
    is_frame = isinstance(X, pd.DataFrame)
    if is_frame and reset:
        check_column_kinds(X)
    if is_frame and y is None and not reset and not check_frame_values:
        if not same_columns(estimator, X):  # scikit-learn's check words the mismatch (and raises)
            validate_data(estimator, X, reset=False, skip_check_array=True)
        return X, None
    kwargs = dict(reset=reset, ensure_all_finite="allow-nan", dtype=None if is_frame else "numeric")
    if y is None and not reset:
        array = validate_data(estimator, X, **kwargs)
        return (X.reset_index(drop=True) if is_frame else array), None
    if y is None:
        # validate_data raises scikit-learn's standard "requires y to be passed" ValueError.
        validate_data(estimator, X, y=None, **kwargs)
    array, y = validate_data(estimator, X, y, y_numeric=y_numeric, **kwargs)
    if len(y) < 2:
        raise TableError(f"distillation needs at least 2 rows; got {len(y)} sample")
    if is_frame:
        return X.reset_index(drop=True), y
    return np.asarray(array, dtype=np.float64), y


def same_columns(estimator: Any, frame: pd.DataFrame) -> bool:
    """True when ``frame`` has exactly the fitted column names, in order: the common case, checked in microseconds.

    scikit-learn's own check goes through narwhals' dataframe detection, which cost ~25 ms per call on an 85-column
    table - most of a tree student's prediction time (``benchmarks/results/tabular_latency.md``).
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or len(names) != frame.shape[1]:
        return False
    columns = frame.columns
    return all(isinstance(column, str) for column in columns) and list(columns) == list(names)


def check_column_kinds(frame: pd.DataFrame) -> None:
    """Refuse columns the encoders cannot turn into numbers, by name, before any model is fit.

    Numbers and booleans are features as they are; text (and boolean) values are categories. Anything else -
    dates, durations, decimals, a column mixing text and numbers - would fail deep inside an encoder, or end up
    as category values in the student that its skops allow-list refuses to load.
    """
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            if pd.api.types.is_numeric_dtype(dtype.categories.dtype):  # numbers as categories: fine
                continue
            values = dtype.categories
        elif pd.api.types.is_complex_dtype(dtype):
            values = column
        elif pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_string_dtype(dtype) and dtype != object:
            continue
        elif dtype == object:
            values = column.dropna()
        else:  # datetime64, timedelta64, period, interval, ...
            raise TableError(f"column '{name}' holds {dtype} values; kdistill reads numbers, booleans and text: "
                             "convert it (e.g. dates to days since a start date) or drop it")
        kinds = {type(value) for value in values}
        if not (kinds <= {str} or kinds <= {bool, np.bool_}):
            shown = ", ".join(sorted(kind.__name__ for kind in kinds))
            raise TableError(f"column '{name}' holds {shown} values; kdistill reads numbers, booleans and text: "
                             "convert it to one of those (e.g. .astype(str)) or drop it")


def stack_rows(first: Any, second: Any) -> Any:
    """Rows of ``first`` then ``second`` (both DataFrames with the same columns, or both arrays)."""
    if isinstance(first, pd.DataFrame):
        return pd.concat([first, second], ignore_index=True)
    return np.vstack([first, second])
