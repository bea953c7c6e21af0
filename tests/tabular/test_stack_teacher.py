"""The stack teacher on a table stored sorted by a column (a bug: its combiner learned from file-order folds)."""

import numpy as np
import pandas as pd

from kdistill.tabular.teachers import TEACHERS


def sorted_table(n_rows: int = 600):
    """y = group effect + x + noise, rows stored sorted by the group column (as hpc_data is by protocol)."""
    rng = np.random.default_rng(0)
    group = rng.choice(list("abcdef"), n_rows)
    x = rng.normal(size=n_rows)
    effect = pd.Series(group).map(dict(a=-2, b=-1, c=0, d=1, e=2, f=3)).to_numpy()
    y = effect + x + rng.normal(0, 0.5, n_rows)
    order = np.argsort(group, kind="stable")
    X = pd.DataFrame({"group": pd.Categorical(group), "x": x}).iloc[order].reset_index(drop=True)
    return X, y[order], rng.random(n_rows) < 0.3


def test_stack_teacher_learns_a_table_sorted_by_a_column():
    X, y, test = sorted_table()
    teacher = TEACHERS.build("stack", task="regression", X=X[~test], random_state=0).fit(X[~test], y[~test])
    # file-order folds held out whole groups: R² 0.43; shuffled folds: 0.94 (a random forest alone reaches ~0.9)
    assert teacher.score(X[test], y[test]) > 0.85
