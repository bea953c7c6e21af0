"""Tabular students to ONNX: the graph's probabilities and labels are the estimator's, categories handled inside."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest

import kdistill
from kdistill.deploy.runtime import session
from kdistill.deploy.tabular import check_tabular, columns_of, export_tabular, tabular_feeds, with_missing_markers
from kdistill.errors import ConfigError
from kdistill.tabular import DistilledClassifier, DistilledRegressor

from tabular.conftest import mixed_table  # tests/ is on sys.path (rootdir-based imports)

STUDENT_PARAMS = {"tree": None, "boosting": {"max_iter": 10}, "linear": None, "mlp": {"epochs": 2}}


def unseen_and_missing(frame):
    """Test rows with a category no training row had, missing categories and missing numbers."""
    frame = frame.copy()
    frame["colour"] = frame["colour"].cat.add_categories(["purple"])
    frame.loc[frame.index[:5], "colour"] = "purple"
    frame.loc[frame.index[5:10], "colour"] = np.nan
    frame.loc[frame.index[10:15], "city"] = "z"
    frame.loc[frame.index[15:20], "income"] = np.nan
    return frame


@pytest.fixture(scope="module")
def split():
    X, y = mixed_table(400)
    return X.iloc[:300], y[:300], unseen_and_missing(X.iloc[300:].reset_index(drop=True)), y[300:]


@pytest.mark.parametrize("student", list(STUDENT_PARAMS))
def test_classifier_graph_gives_the_estimators_probabilities_and_labels(student, split, tmp_path):
    X_train, y_train, X_test, _ = split
    model = DistilledClassifier(teacher="random_forest", student=student, student_params=STUDENT_PARAMS[student],
                                augmentation="noise", augmentation_multiplier=1.0, temperature=2.0,
                                random_state=0).fit(X_train, y_train)
    report = kdistill.export(model, tmp_path / "student.onnx", X=X_test)
    assert report["check"]["max_abs_diff"] <= 1e-5 and report["check"]["label_agreement"] == 1.0
    runner = session(tmp_path / "student.onnx")
    labels, probabilities = runner.run(["label", "probabilities"], tabular_feeds(X_test, columns_of(
        tmp_path / "student.onnx")))
    # the class labels themselves ("yes"/"no"), not indices (a None and a NaN in the text column "city" are both
    # "missing" to the graph; scikit-learn's one-hot encoder keeps them apart, so both sides read one marker)
    assert list(labels) == list(model.predict(with_missing_markers(X_test, model.encoder_)))
    assert probabilities.shape == (len(X_test), 2)
    meta = runner.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == ["no", "yes"]
    assert {c["name"]: c["kind"] for c in json.loads(meta["columns"])} == {
        "income": "number", "age": "number", "colour": "category", "city": "category"}


def test_integer_classes_stay_integers_and_multiclass_works(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": pd.Categorical(rng.choice(["u", "v", "w"], 300))})
    y = np.where(X["a"] > 0.5, 7, np.where(X["b"] == "u", 3, 5))
    for student in ("tree", "boosting", "linear"):
        model = DistilledClassifier(teacher="random_forest", student=student, student_params=STUDENT_PARAMS[student],
                                    augmentation=None, random_state=0).fit(X, y)
        check_tabular(model, export_tabular(model, tmp_path / f"{student}.onnx"), X)
        (labels,) = session(tmp_path / f"{student}.onnx").run(["label"], tabular_feeds(X, columns_of(
            tmp_path / f"{student}.onnx")))
        assert labels.dtype == np.int64 and set(labels) <= {3, 5, 7}
        np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("student", list(STUDENT_PARAMS))
def test_regressor_graph_gives_the_estimators_predictions(student, tmp_path):
    X, _ = mixed_table(300)
    target = np.nan_to_num(X["income"].to_numpy(), nan=50.0) * 3 + (X["colour"] == "red") * 20
    model = DistilledRegressor(teacher="random_forest", student=student, student_params=STUDENT_PARAMS[student],
                               augmentation=None, random_state=0).fit(X, target)
    report = kdistill.export(model, tmp_path / "r.onnx", X=unseen_and_missing(X))
    assert report["check"]["max_abs_diff"] <= 1e-5 * report["check"]["scale"]


def test_a_student_fitted_on_an_array_reads_numbered_columns(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    model = DistilledClassifier(teacher="random_forest", augmentation=None, random_state=0).fit(X, X[:, 0] > 0)
    export_tabular(model, tmp_path / "a.onnx")
    assert [c["name"] for c in columns_of(tmp_path / "a.onnx")] == ["x0", "x1", "x2"]
    assert check_tabular(model, tmp_path / "a.onnx", X)["label_agreement"] == 1.0


def test_tabular_export_errors_name_the_fix(split, tmp_path):
    X_train, y_train, X_test, _ = split
    model = DistilledClassifier(teacher="random_forest", augmentation=None, random_state=0).fit(X_train, y_train)
    with pytest.raises(ConfigError, match="drop int8"):
        kdistill.export(model, tmp_path / "s.onnx", int8=True)
    with pytest.raises(ConfigError, match="not a fitted kdistill tabular student"):
        export_tabular(DistilledClassifier(), tmp_path / "s.onnx")
    export_tabular(model, tmp_path / "s.onnx")
    with pytest.raises(ConfigError, match="no column 'city'"):
        tabular_feeds(X_test.drop(columns=["city"]), columns_of(tmp_path / "s.onnx"))


def test_tabular_fit_onnx_writes_a_checked_student(tmp_path):
    from kdistill.tabular.cli import add_tabular_commands, run_tabular_command

    X, y = mixed_table(200)
    X["label"] = y
    X.to_csv(tmp_path / "table.csv", index=False)
    parser = argparse.ArgumentParser(prog="kdistill")
    add_tabular_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "run"
    args = parser.parse_args(["tabular", "fit", "--data", str(tmp_path / "table.csv"), "--target", "label",
                              "--teacher", "random_forest", "--augmentation", "none", "--tree-format", "text",
                              "--onnx", "--out", str(out)])
    assert run_tabular_command(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["onnx"]["check"]["label_agreement"] == 1.0 and report["onnx"]["check"]["rows"] == 40
    assert (out / "student.onnx").stat().st_size == report["onnx"]["size_bytes"]


def test_tabular_fit_onnx_without_the_extra_fails_before_training(tmp_path, monkeypatch):
    from kdistill.tabular.cli import add_tabular_commands, run_tabular_command

    parser = argparse.ArgumentParser(prog="kdistill")
    add_tabular_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tabular", "fit", "--data", str(tmp_path / "missing.csv"), "--target", "y", "--onnx",
                              "--out", str(tmp_path / "run")])
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # as if the export extra were missing
    with pytest.raises(ConfigError, match=r"pip install 'kdistill\[export\]'"):
        run_tabular_command(args)  # before even reading --data (which does not exist)
    assert not (tmp_path / "run").exists()


def test_tree_ensemble_node_matches_scikit_learn_on_categorical_splits_nan_and_stumps(tmp_path):
    import onnx
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.tree import DecisionTreeRegressor

    from kdistill.deploy.graph import GraphBuilder
    from kdistill.deploy.trees import BRANCH_MEMBER, boosting_trees, sklearn_tree, tree_ensemble_node

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 6, 500).astype(float), rng.normal(size=500)])
    X[::7, 1] = np.nan
    y = np.isin(X[:, 0], [1, 4]) * 2.0 + np.nan_to_num(X[:, 1], nan=3.0)
    boosting = HistGradientBoostingRegressor(max_iter=5, categorical_features=[True, False]).fit(X, y)
    stump = DecisionTreeRegressor().fit(X, np.ones(500))  # one leaf, no split
    for name, trees in (("boosting", boosting_trees(boosting)), ("stump", [sklearn_tree(stump)])):
        b = GraphBuilder()
        b.add_input("X", 11, ["N", 2])
        node = tree_ensemble_node(trees, 1, "X", "raw")
        b.add_node(node)
        b.add_output("raw", "y", 11, ["N", 1])
        onnx.save(b.model(name), str(tmp_path / f"{name}.onnx"))
        (out,) = session(tmp_path / f"{name}.onnx").run(None, {"X": X})
        if name == "boosting":
            modes = onnx.numpy_helper.to_array(next(a.t for a in node.attribute if a.name == "nodes_modes"))
            assert BRANCH_MEMBER in modes  # the categorical feature split by category sets
            np.testing.assert_allclose(out[:, 0] + boosting._baseline_prediction[0, 0], boosting.predict(X),
                                       atol=1e-12)
        else:
            np.testing.assert_array_equal(out[:, 0], np.ones(500))
