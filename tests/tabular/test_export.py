"""Saving and loading students: every kind round-trips, and the skops allow-list is exactly what students hold."""

import functools
from functools import partial

import numpy as np
import pytest
import skops.io

from kdistill.errors import CheckpointError
from kdistill.tabular import STUDENTS, TEACHERS, DistilledClassifier, DistilledRegressor
from kdistill.tabular.export import load_student, load_teacher, save_student
from kdistill.tabular.trusted_types import STUDENT_TYPES, TEACHER_TYPES

from .conftest import mixed_table

TASKS = ("classification", "regression")


def table(categorical: bool):
    X, labels = mixed_table(120)
    y = {"classification": labels, "regression": X["age"].to_numpy() * 2.0 + (labels == "yes")}
    return (X if categorical else X[["income", "age"]]), y


@functools.cache
def fitted_student(student: str, task: str, categorical: bool):
    X, y = table(categorical)
    teacher = TEACHERS.build("random_forest", task=task, X=X, random_state=0, n_estimators=5).fit(X, y[task])
    params = {"epochs": 1, "hidden": (8,)} if student == "mlp" else None
    estimator = DistilledClassifier if task == "classification" else DistilledRegressor
    model = estimator(teacher=teacher, student=student, student_params=params, augmentation="noise",
                      augmentation_multiplier=0.5, random_state=0)
    return model.fit(X, y[task]), X


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("student", STUDENTS.names())
def test_every_student_with_categorical_columns_saves_and_reloads(tmp_path, student, task):
    """boosting + categories used to exit 0 yet write a file load_student refused (a functools.partial inside)."""
    model, X = fitted_student(student, task, categorical=True)
    path = save_student(model, tmp_path / "student.skops")
    loaded = load_student(path)
    predict = "predict_proba" if task == "classification" else "predict"
    np.testing.assert_allclose(getattr(loaded, predict)(X), getattr(model, predict)(X))


def test_student_allow_list_is_exactly_what_students_hold():
    """Derived, not guessed: the union of skops' untrusted types over every student kind, task and table shape."""
    held = set()
    for student in STUDENTS.names():
        for task in TASKS:
            for categorical in (True, False):
                model, _ = fitted_student(student, task, categorical)
                held |= set(skops.io.get_untrusted_types(data=skops.io.dumps(model.without_teacher())))
    assert held == STUDENT_TYPES


@pytest.mark.slow
@pytest.mark.parametrize("name", TEACHERS.names())
def test_teachers_kdistill_trains_load_as_teachers(tmp_path, name):
    small = {"lightgbm": {"n_estimators": 5}, "gradient_boosting": {"max_iter": 5},
             "random_forest": {"n_estimators": 5}}
    X, y = table(categorical=True)
    for task in TASKS:
        teacher = TEACHERS.build(name, task=task, X=X, random_state=0, **small.get(name, {})).fit(X, y[task])
        skops.io.dump(teacher, tmp_path / "teacher.skops")
        assert set(skops.io.get_untrusted_types(file=tmp_path / "teacher.skops")) <= TEACHER_TYPES
        loaded = load_teacher(tmp_path / "teacher.skops")
        compare = np.testing.assert_array_equal if task == "classification" else np.testing.assert_allclose
        compare(loaded.predict(X), teacher.predict(X))  # threaded forests sum in varying order: allclose


def test_a_saved_student_is_also_accepted_as_teacher(tmp_path):
    model, X = fitted_student("tree", "classification", categorical=True)
    loaded = load_teacher(save_student(model, tmp_path / "student.skops"))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_save_refuses_a_model_it_could_not_load_again(tmp_path):
    model, _ = fitted_student("tree", "classification", categorical=False)
    model = model.without_teacher()
    model.note_ = partial(print, "hi")  # any type outside the allow-list
    with pytest.raises(CheckpointError, match=r"cannot save student.skops: .*\(builtins.print, functools.partial\)"):
        save_student(model, tmp_path / "student.skops")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04truncated"],
                         ids=["empty", "text", "zip"])
def test_corrupt_student_file_is_one_line_checkpoint_error(tmp_path, content):
    path = tmp_path / "student.skops"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot read .* as a skops file") as caught:
        load_student(path)
    assert "\n" not in str(caught.value)


def test_missing_teacher_file_says_how_to_make_one(tmp_path):
    with pytest.raises(CheckpointError, match=r"does not exist; save a fitted teacher with skops.io.dump"):
        load_teacher(tmp_path / "teacher.skops")
