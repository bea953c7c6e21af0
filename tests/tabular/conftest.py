"""Small mixed-type tables for the tabular tests (numbers, ints, categories, strings, NaN)."""

import numpy as np
import pandas as pd
import pytest


def mixed_table(n_rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, n_rows)
    age = rng.integers(18, 80, n_rows)
    colour = rng.choice(["red", "green", "blue"], n_rows)
    frame = pd.DataFrame({
        "income": income,
        "age": age,
        "colour": pd.Categorical(colour),
        "city": pd.Series(rng.choice(["a", "b"], n_rows), dtype=object),
    })
    frame.loc[::9, "income"] = np.nan
    frame.loc[::13, "city"] = None
    label = (np.nan_to_num(frame["income"].to_numpy(), nan=50) + (colour == "red") * 15 + rng.normal(0, 5, n_rows)) > 58
    return frame, np.where(label, "yes", "no")


@pytest.fixture
def table():
    return mixed_table()
