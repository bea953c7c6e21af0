"""CategoryCodeEncoder: target-ordered codes, NaN and unseen categories, fast path equals the slow meaning."""

import numpy as np
import pandas as pd
import pytest

from kdistill.tabular import DistilledClassifier
from kdistill.tabular.codes import CategoryCodeEncoder, target_scores
from kdistill.tabular.validation import TableError


def frame():
    return pd.DataFrame({
        "size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
        "colour": pd.Categorical(["red", "blue", "red", None, "green", "blue"]),
        "city": pd.Series(["a", "b", None, "a", "b", "b"], dtype=object),
        "flag": [True, False, True, True, False, False],
    })


def test_categories_are_coded_in_target_order_and_numbers_pass_through():
    X = frame()
    y = np.array([1.0, 0.0, 1.0, 0.5, 0.7, 0.0])  # colour means: blue 0, green 0.7, red 1
    encoder = CategoryCodeEncoder().fit(X, y)
    assert encoder.categories_[1] == ["blue", "green", "red"]
    assert encoder.categories_[2] == ["b", "a"]  # a: mean 0.75, b: mean 0.23
    out = encoder.transform(X)
    assert out.shape == (6, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out[:, 0], X["size"].to_numpy())
    np.testing.assert_array_equal(out[:, 1], [2, 0, 2, np.nan, 1, 0])
    np.testing.assert_array_equal(out[:, 2], [1, 0, np.nan, 1, 0, 0])
    assert encoder.legend().splitlines()[0] == "colour: 0=blue, 1=green, 2=red"
    assert list(encoder.get_feature_names_out()) == ["size", "colour", "city", "flag"]


def test_unseen_and_missing_categories_become_nan_whatever_the_category_order():
    X = frame()
    encoder = CategoryCodeEncoder().fit(X, np.arange(6.0))
    new = pd.DataFrame({
        "size": [1.0, 1.0, 1.0],
        # Same labels, a different category list and order than at fit time, plus one never seen.
        "colour": pd.Categorical(["purple", "red", None], categories=["red", "purple", "blue"]),
        "city": pd.Series(["z", "a", None], dtype=object),
        "flag": [True, False, True],
    })
    out = encoder.transform(new)
    red = encoder.categories_[1].index("red")
    np.testing.assert_array_equal(out[:, 1], [np.nan, red, np.nan])
    np.testing.assert_array_equal(out[:, 2], [np.nan, encoder.categories_[2].index("a"), np.nan])


def test_dtype_categories_absent_from_the_rows_get_no_code():
    X = pd.DataFrame({"colour": pd.Categorical(["red", "blue"], categories=["red", "blue", "never"])})
    encoder = CategoryCodeEncoder().fit(X, np.array([0.0, 1.0]))
    assert encoder.categories_[0] == ["red", "blue"]
    assert np.isnan(encoder.transform(pd.DataFrame({"colour": pd.Categorical(["never"])}))[0, 0])


def test_arrays_pass_through_and_infinity_is_refused():
    encoder = CategoryCodeEncoder().fit(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(encoder.transform([[1, 2]]), [[1.0, 2.0]])
    with pytest.raises(TableError, match="columns"):
        encoder.transform(np.zeros((1, 3)))
    X = frame()
    encoder = CategoryCodeEncoder().fit(X, np.zeros(6))
    X.loc[0, "size"] = np.inf
    with pytest.raises(TableError, match="infinity"):
        encoder.transform(X)


def test_multiclass_scores_follow_the_main_direction_of_the_targets():
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    scores = target_scores(targets)
    assert scores.shape == (4,)
    assert scores[0] == pytest.approx(scores[3])
    np.testing.assert_array_equal(target_scores(np.array([[0.2, 0.8], [0.6, 0.4]])), [0.8, 0.4])


def test_same_leaf_budget_for_direct_and_distilled_students(table):
    X, y = table
    params = {"max_depth": 8, "max_leaf_nodes": 6}
    direct = DistilledClassifier(teacher="random_forest", augmentation=None, label_weight=1.0, student_params=params,
                                 random_state=0).fit(X, y)
    distilled = DistilledClassifier(teacher="random_forest", augmentation="gibbs", augmentation_multiplier=3.0,
                                    student_params=params, random_state=0).fit(X, y)
    assert direct.student_.model_.get_n_leaves() <= 6 and distilled.student_.model_.get_n_leaves() <= 6
    # Predicting through the fast path (no frame scan) gives the same answer as on a copy with a fresh index.
    np.testing.assert_array_equal(distilled.predict_proba(X), distilled.predict_proba(X.set_index(X.index + 7)))


def test_tree_text_ends_with_the_code_legend(table):
    from kdistill.tabular.export import tree_text

    X, y = table
    model = DistilledClassifier(teacher="random_forest", augmentation=None, random_state=0).fit(X, y)
    text = tree_text(model)
    assert "category codes (missing or unseen = NaN):" in text
    assert "colour: 0=" in text and "city: 0=" in text


def test_lightgbm_teacher_reads_pandas_categories_natively(table):
    pytest.importorskip("lightgbm")
    from kdistill.tabular.teachers import TEACHERS

    X, y = table
    categories_only = X.assign(city=X["city"].astype("category"))
    teacher = TEACHERS.build("lightgbm", task="classification", X=categories_only, random_state=0, n_estimators=5)
    assert type(teacher).__name__ == "LGBMClassifier"
    assert teacher.fit(categories_only, y).predict_proba(categories_only).shape == (len(X), 2)
    # Raw strings (object columns) still go through the one-hot pipeline.
    assert type(TEACHERS.build("lightgbm", task="classification", X=X, random_state=0)).__name__ == "Pipeline"


def test_vectorised_transform_equals_the_per_column_reference():
    from kdistill.tabular.codes import transform_by_column

    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({
        **{f"x{i}": rng.normal(size=n) for i in range(6)},
        "ints": rng.integers(0, 5, n),
        "nullable": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)), dtype="Int64"),
        "bools": rng.random(n) < 0.5,
        "colour": pd.Categorical(rng.choice(["red", "blue", None], n)),
        "city": pd.Series(rng.choice(["a", "b", "c"], n), dtype=object),
    })
    X.loc[::7, "x0"] = np.nan
    encoder = CategoryCodeEncoder().fit(X, rng.random(n))
    new = X.sample(frac=1.0, random_state=0)  # another row order and index
    new["city"] = new["city"].replace("c", "unseen")
    np.testing.assert_array_equal(encoder.transform(new), transform_by_column(encoder, new))
    # Duplicate column names take the positional path.
    twice = pd.concat([X[["x0"]], X[["x0"]]], axis=1)
    np.testing.assert_array_equal(CategoryCodeEncoder().fit(twice).transform(twice), twice.to_numpy())
