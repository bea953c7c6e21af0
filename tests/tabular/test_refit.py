"""Refit on all training rows once the validation rows have chosen (kdistill.tabular.refit)."""

import numpy as np
import pytest

import kdistill.tabular.refit as refit_module
from kdistill.errors import ConfigError
from kdistill.tabular import DistilledClassifier, DistilledRegressor
from tests.tabular.conftest import mixed_table

FAST = dict(augmentation="noise", augmentation_multiplier=1.0, random_state=0)


def noise_labels(n_rows: int) -> np.ndarray:
    return np.random.default_rng(1).choice(["no", "yes"], n_rows)


@pytest.mark.parametrize("refit", [True, False])
def test_the_kept_student_learns_the_validation_rows_only_when_refit(refit):
    X, _ = mixed_table()
    y = noise_labels(len(X))  # labels nothing predicts: a leaf per row recalls exactly the rows it was trained on
    model = DistilledClassifier(teacher="random_forest", student="tree", prefer="direct", refit=refit,
                                student_params={"max_depth": None, "max_leaf_nodes": 1000, "min_samples_leaf": 1}, **FAST).fit(X, y)
    recalled = np.mean(model.predict(X) == y)
    if refit:
        assert recalled > 0.97  # all but rows whose columns repeat another row's (NaN income, same age and city)
        assert model.refit_["rows"] == len(X) and model.refit_["teacher"] == "refit"
    else:
        assert recalled < 0.93  # the 60 validation rows (20 %) are guessed, not recalled
        assert model.refit_ is None


def test_lightgbm_teacher_is_refit_with_the_rounds_early_stopping_kept():
    pytest.importorskip("lightgbm")
    X, y = mixed_table(600)
    X = X.drop(columns="city")  # no string column: the teacher is a bare LightGBM, which stops early
    searched = DistilledClassifier(teacher="lightgbm", student="tree", refit=False, **FAST).fit(X, y)
    stopped = searched.teacher_.best_iteration_
    model = DistilledClassifier(teacher="lightgbm", student="tree", **FAST).fit(X, y)
    assert 0 < stopped < 1000
    assert model.refit_["teacher_rounds"] == stopped
    assert model.teacher_.n_estimators == stopped


def test_boosting_student_is_refit_with_its_kept_rounds():
    X, y = mixed_table(400)
    model = DistilledRegressor(teacher="random_forest", student="boosting", refit=False,
                               student_params={"max_iter": 300, "max_leaf_nodes": 7}, **FAST)
    searched = model.fit(X, X["age"].to_numpy() * 2.0).student_.n_rounds_
    refit = DistilledRegressor(**{**model.get_params(), "refit": True}).fit(X, X["age"].to_numpy() * 2.0)
    assert refit.refit_["student_params"]["max_iter"] == searched < 300
    assert refit.student_.n_rounds_ == searched  # no validation rows left: every kept round is trained, none cut
    assert refit.student_params_["max_iter"] == 300  # the searched params are reported


def test_a_teacher_the_user_fitted_is_not_retrained():
    from sklearn.ensemble import RandomForestClassifier

    X, y = mixed_table()
    teacher = RandomForestClassifier(n_estimators=5, random_state=0).fit(X[["age"]], y)
    model = DistilledClassifier(teacher=teacher, student="tree", **FAST).fit(X[["age"]], y)
    assert model.teacher_ is teacher
    assert model.refit_["teacher"].startswith("kept")


def test_a_refit_student_over_the_budget_gives_way_to_the_searched_one(monkeypatch):
    timed = refit_module.interleaved_latency

    def refit_is_slow(predicts, batch, repeats=3):
        out = timed(predicts, batch, repeats)
        if "refit" in out:
            out["refit"]["latency_ms_per_1k"] = 1e9
        return out

    monkeypatch.setattr(refit_module, "interleaved_latency", refit_is_slow)
    X, y = mixed_table()
    model = DistilledClassifier(teacher="random_forest", student="tree", max_latency_ms=1e6, **FAST).fit(X, y)
    assert model.refit_["within_budget"] is False
    assert model.refit_["kept"].startswith("searched")
    assert model.refit_["searched_latency_ms_per_1k"] < 1e6


def test_refit_must_be_a_bool():
    X, y = mixed_table()
    with pytest.raises(ConfigError, match="refit must be True or False"):
        DistilledClassifier(refit="yes", **FAST).fit(X, y)
