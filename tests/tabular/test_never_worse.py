"""Never worse than direct: both variants trained and scored on validation rows; prefer; splits; teacher stopping."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from kdistill.errors import ConfigError
from kdistill.tabular import DistilledClassifier, DistilledRegressor
from kdistill.tabular.splits import holdout_rows, strata

from .conftest import mixed_table


def regression_table(n_rows=300, seed=0):
    X, _ = mixed_table(n_rows, seed)
    y = X["age"].to_numpy() * 2.0 + (X["colour"] == "red") * 10 + np.random.default_rng(seed).normal(0, 3, n_rows)
    return X, y


def test_both_variants_are_scored_and_the_better_is_kept(table):
    X, y = table
    model = DistilledClassifier(teacher="random_forest", augmentation=None, random_state=0).fit(X, y)
    assert model.validation_metric_ == "auc"
    assert {row["variant"] for row in model.candidates_} == {"distilled", "direct"}
    scores = {row["variant"]: row["score"] for row in model.candidates_}
    assert scores == {"distilled": model.distilled_score_, "direct": model.direct_score_}
    assert model.chosen_ == max(scores, key=lambda v: (scores[v], v == "distilled"))
    assert sum(row["chosen"] for row in model.candidates_) == 1


def test_a_useless_teacher_loses_to_direct_training(table):
    """A teacher that learned a shuffled target: distilling it is worse than the labels, so direct is returned."""
    X, y = table
    shuffled = np.random.default_rng(0).permutation(y)
    bad_teacher = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[["income", "age"]].fillna(0), shuffled)
    X_numeric = X[["income", "age"]].fillna(0)
    model = DistilledClassifier(teacher=bad_teacher, augmentation=None, random_state=0).fit(X_numeric, y)
    assert model.direct_score_ > model.distilled_score_
    assert model.chosen_ == "direct"
    forced = DistilledClassifier(teacher=bad_teacher, augmentation=None, prefer="distilled", random_state=0)
    assert forced.fit(X_numeric, y).chosen_ == "distilled"
    # The direct student predicts untempered probabilities even when the distilled one used a temperature.
    hot = DistilledClassifier(teacher=bad_teacher, augmentation=None, temperature=4.0, random_state=0).fit(X_numeric, y)
    assert hot.chosen_ == "direct" and hot.output_temperature_ == 1.0
    np.testing.assert_allclose(hot.predict_proba(X_numeric), hot.student_.predict_soft(hot.encoder_.transform(X_numeric)),
                               atol=1e-6)


def test_regressor_compares_on_r2():
    X, y = regression_table()
    model = DistilledRegressor(teacher="random_forest", augmentation="noise", augmentation_multiplier=1.0,
                               random_state=0).fit(X, y)
    assert model.validation_metric_ == "r2" and model.chosen_ in ("distilled", "direct")
    assert model.score(X, y) > 0.5


def test_no_validation_trains_the_preferred_variant_on_all_rows(table):
    X, y = table
    model = DistilledClassifier(teacher="random_forest", augmentation=None, validation_size=0, prefer="direct",
                                random_state=0).fit(X, y)
    assert model.chosen_ == "direct" and model.direct_score_ is None and len(model.candidates_) == 1


@pytest.mark.parametrize("bad", [{"prefer": "best"}, {"validation_size": 1.0}, {"max_latency_ms": 0}])
def test_bad_settings_are_refused(table, bad):
    X, y = table
    with pytest.raises(ConfigError):
        DistilledClassifier(teacher="random_forest", augmentation=None, **bad).fit(X, y)


def test_regression_holdout_is_stratified_by_target_bins():
    y = np.concatenate([np.zeros(90), np.full(10, 100.0)])  # a 10% tail
    for seed in range(5):
        _, held = holdout_rows(y, "regression", 0.2, seed)
        assert (y[held] == 100.0).sum() == 2  # exactly its share, every seed
    assert strata(np.arange(100.0), "regression", 20).max() == 9


def test_classification_holdout_keeps_class_shares_and_falls_back_when_a_class_is_tiny():
    y = np.array(["a"] * 80 + ["b"] * 20)
    _, held = holdout_rows(y, "classification", 0.2, 0)
    assert (y[held] == "b").sum() == 4
    assert strata(np.array(["a"] * 99 + ["b"]), "classification", 20) is None


def test_lightgbm_teacher_stops_early_on_the_validation_rows():
    pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=600), "noise": rng.normal(size=600)})
    y = np.where(X["x"] + rng.normal(0, 1.0, 600) > 0, "yes", "no")
    model = DistilledClassifier(teacher="lightgbm", augmentation=None, refit=False,
                                random_state=0).fit(X, y)
    assert 0 < model.teacher_.best_iteration_ < 1000


def test_auto_searches_families_and_sizes_within_a_size_budget(table):
    from kdistill.tabular.sizing import candidate_grid

    X, y = table
    model = DistilledClassifier(teacher="random_forest", student="auto", augmentation=None, max_size_bytes=100_000,
                                random_state=0).fit(X, y)
    assert len(model.candidates_) == 2 * len(candidate_grid())
    assert {row["family"] for row in model.candidates_} == {"tree", "boosting", "mlp"}
    allowed = [row for row in model.candidates_ if row["size_bytes"] <= 100_000]
    assert all(row["within_budget"] == (row in allowed) for row in model.candidates_)
    chosen = next(row for row in model.candidates_ if row["chosen"])
    assert chosen["score"] == max(row["score"] for row in allowed)
    assert model.student_family_ == chosen["family"] and model.chosen_ == chosen["variant"]
    assert any(not row["within_budget"] for row in model.candidates_)  # the budget did exclude something


@pytest.mark.parametrize("refit", [False, True])
def test_the_saved_student_is_the_size_the_budget_search_measured(table, tmp_path, refit):
    from kdistill.tabular.export import save_student

    X, y = table
    model = DistilledClassifier(teacher="random_forest", student="auto", augmentation=None, max_size_bytes=100_000,
                                refit=refit, random_state=0).fit(X, y)
    # the student refit on all rows is measured again (same size arguments, more rows), and kept only within budget
    measured = model.refit_ if refit else next(row for row in model.candidates_ if row["chosen"])
    saved = save_student(model, tmp_path / "student.skops")
    # the search log is not shipped: the file is what was measured, give or take the fitted scalars (scores, metric)
    assert abs(saved.stat().st_size - measured["size_bytes"]) < 2_000 and measured["size_bytes"] <= 100_000


def test_a_budget_nothing_meets_is_one_clear_error(table):
    X, y = table
    with pytest.raises(ConfigError, match="no student meets the budget .* raise the limits"):
        DistilledClassifier(teacher="random_forest", student="tree", augmentation=None, max_size_bytes=10,
                            random_state=0).fit(X, y)


def test_default_tree_size_scales_with_the_rows():
    from kdistill.tabular.sizing import default_student_params, scaled_leaves

    assert scaled_leaves(500) < scaled_leaves(5_000) < scaled_leaves(30_000) <= 4095
    assert default_student_params("tree", 30_000)["max_leaf_nodes"] > 63  # not a depth-6 tree on a big table
