"""DistilledClassifier / DistilledRegressor: scikit-learn checks, every student, teachers, soft labels."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from kdistill.errors import ConfigError
from kdistill.tabular import STUDENTS, DistilledClassifier, DistilledRegressor, TargetError
from kdistill.tabular.soft_labels import temper, untemper
from kdistill.tabular.students import replicate_soft_labels

FAST = dict(augmentation="noise", augmentation_multiplier=1.0, random_state=0)


@parametrize_with_checks([
    DistilledClassifier(teacher=RandomForestClassifier(n_estimators=5, random_state=0), **FAST),
    DistilledRegressor(teacher=RandomForestRegressor(n_estimators=5, random_state=0), **FAST),
])
def test_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("student", STUDENTS.names())
def test_every_student_distils_a_mixed_table(student, table):
    X, y = table
    params = {"epochs": 3} if student == "mlp" else None
    model = DistilledClassifier(teacher="random_forest", student=student, student_params=params, **FAST).fit(X, y)
    probabilities = model.predict_proba(X)
    assert probabilities.shape == (len(X), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {"no", "yes"}
    assert model.score(X, y) > 0.6
    assert model.n_transfer_rows_ == 2 * len(X)  # refit: transfer rows drawn again from every training row
    assert model.refit_["rows"] == len(X)


@pytest.mark.parametrize("student", STUDENTS.names())
def test_every_student_regresses(student, table):
    X, _ = table
    y = X["age"].to_numpy() * 2.0 + (X["colour"] == "red") * 10
    params = {"epochs": 30} if student == "mlp" else None
    model = DistilledRegressor(teacher="random_forest", student=student, student_params=params, **FAST).fit(X, y)
    assert model.predict(X).shape == (len(X),)
    assert model.score(X, y) > 0.5


def test_fitted_teacher_is_used_as_is_and_unfitted_one_is_trained(table):
    X, y = table
    fitted = RandomForestClassifier(n_estimators=5, random_state=0).fit(X[["age"]], y)
    model = DistilledClassifier(teacher=fitted, **FAST).fit(X[["age"]], y)
    assert model.teacher_ is fitted
    unfitted = LogisticRegression()
    model = DistilledClassifier(teacher=unfitted, **FAST).fit(X[["age"]], y)
    assert model.teacher_ is not unfitted and hasattr(model.teacher_, "coef_") and not hasattr(unfitted, "coef_")


def test_bad_teachers_and_targets_are_refused(table):
    X, y = table
    with pytest.raises(ConfigError, match="predict_proba"):
        DistilledClassifier(teacher=SVC(), **FAST).fit(X[["age"]], y)
    with pytest.raises(ConfigError, match="predict_proba"):
        DistilledClassifier(teacher=LinearRegression().fit(X[["age"]], y == "yes"), **FAST).fit(X[["age"]], y)
    with pytest.raises(TargetError, match="one class"):
        DistilledClassifier(**FAST).fit(X, np.full(len(X), "yes"))
    with pytest.raises(ConfigError, match="unknown tabular student"):
        DistilledClassifier(student="forest", **FAST).fit(X, y)


def test_without_teacher_predicts_the_same(table):
    X, y = table
    model = DistilledClassifier(teacher="random_forest", **FAST).fit(X, y)
    light = model.without_teacher()
    assert not hasattr(light, "teacher_") and hasattr(model, "teacher_")
    np.testing.assert_array_equal(light.predict_proba(X), model.predict_proba(X))


def test_temper_round_trips_and_softens():
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.01, 0.99]])
    np.testing.assert_allclose(untemper(temper(p, 3.0), 3.0), p, atol=1e-9)
    assert temper(p, 3.0)[0, 0] < 0.9


def test_replicated_rows_give_the_soft_cross_entropy():
    X = np.arange(6.0).reshape(3, 2)
    p = np.array([[0.7, 0.3], [1.0, 0.0], [0.2, 0.8]])
    X_rep, labels, weights = replicate_soft_labels(X, p)
    q = np.array([[0.6, 0.4], [0.9, 0.1], [0.3, 0.7]])  # any model's predictions
    row = {tuple(x): i for i, x in enumerate(X)}
    weighted = -sum(w * np.log(q[row[tuple(x)], c]) for x, c, w in zip(X_rep, labels, weights))
    np.testing.assert_allclose(weighted, -(p * np.log(q)).sum())
    assert set(labels) == {0, 1}
