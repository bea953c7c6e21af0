"""Columns the encoders cannot read are refused by name at fit time (not deep inside an encoder, nor at load)."""

import datetime
import decimal

import numpy as np
import pandas as pd
import pytest

from kdistill.tabular.validation import TableError, check_column_kinds

N = 8
ACCEPTED = {
    "floats": np.linspace(0, 1, N),
    "ints": np.arange(N),
    "bools": np.arange(N) % 2 == 0,
    "text": pd.Series(["a", "b", None, "c"] * 2, dtype=object),
    "string dtype": pd.Series(["a", "b"] * 4, dtype="string"),
    "text categories": pd.Categorical(["a", "b"] * 4),
    "number categories": pd.Categorical([1, 2] * 4),
    "bools with gaps": pd.Series([True, None, False, True] * 2, dtype=object),
}
REFUSED = {
    "datetime64": pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(N), "D")),
    "timedelta64": pd.Series(pd.to_timedelta(np.arange(N), "D")),
    "dates": pd.Series([datetime.date(2020, 1, 1 + i) for i in range(N)], dtype=object),
    "decimals": pd.Series([decimal.Decimal(i) for i in range(N)], dtype=object),
    "text and numbers": pd.Series(["a", 1, 2.5, "b"] * 2, dtype=object),
    "date categories": pd.Series([datetime.date(2020, 1, 1 + i % 2) for i in range(N)], dtype="category"),
    "complex": np.arange(N) * 1j,
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_numbers_booleans_and_text_are_accepted(name):
    check_column_kinds(pd.DataFrame({"x": np.arange(N), name: ACCEPTED[name]}))


@pytest.mark.parametrize("name", REFUSED)
def test_other_kinds_are_refused_by_column_name(name):
    with pytest.raises(TableError, match=f"column '{name}' holds .* values; kdistill reads numbers, booleans and text"):
        check_column_kinds(pd.DataFrame({"x": np.arange(N), name: REFUSED[name]}))
