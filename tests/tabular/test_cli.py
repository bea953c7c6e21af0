"""``kdistill tabular fit``: outputs on good input, one clear error line on bad input."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.svm import SVC

from kdistill.errors import DataError, KdistillError
from kdistill.tabular.cli import add_tabular_commands, run_tabular_command
from kdistill.tabular.export import load_student

from .conftest import mixed_table


def parse(argv):
    parser = argparse.ArgumentParser(prog="kdistill")
    add_tabular_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def csv_file(tmp_path):
    X, y = mixed_table(200)
    X["label"] = y
    path = tmp_path / "table.csv"
    X.to_csv(path, index=False)
    return path


def test_fit_writes_student_report_and_tree(csv_file, tmp_path):
    out = tmp_path / "run"
    argv = ["tabular", "fit", "--data", str(csv_file), "--target", "label", "--teacher", "random_forest",
            "--augmentation", "noise", "--multiplier", "1", "--tree-format", "text", "--out", str(out)]
    assert run_tabular_command(parse(argv)) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "classification"
    assert {"accuracy", "auc", "latency_ms_per_1k", "size_bytes", "tree_depth", "tree_leaves"} <= set(report["student_report"])
    assert "|---" in (out / "tree.txt").read_text()
    student = load_student(out / "student.skops")
    X = pd.read_csv(csv_file).drop(columns=["label"])
    X[["colour", "city"]] = X[["colour", "city"]].astype("category")
    assert set(student.predict(X)) <= {"yes", "no"}


def test_missing_target_column_is_refused(csv_file):
    with pytest.raises(DataError, match="target column 'price' is not in the data"):
        run_tabular_command(parse(["tabular", "fit", "--data", str(csv_file), "--target", "price"]))


def test_single_class_target_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": np.arange(10), "label": ["a"] * 10}).to_csv(path, index=False)
    with pytest.raises(DataError, match="single class"):
        run_tabular_command(parse(["tabular", "fit", "--data", str(path), "--target", "label"]))


def test_teacher_without_predict_proba_is_refused(csv_file, tmp_path):
    X = pd.read_csv(csv_file)
    teacher = SVC().fit(X[["age"]], X["label"])  # no probability=True: no predict_proba
    skops.io.dump(teacher, tmp_path / "svc.skops")
    argv = ["tabular", "fit", "--data", str(csv_file), "--target", "label", "--teacher", str(tmp_path / "svc.skops")]
    with pytest.raises(KdistillError, match="no predict_proba"):
        run_tabular_command(parse(argv))


def test_bad_file_type_is_refused(tmp_path):
    path = tmp_path / "table.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=".csv or .parquet"):
        run_tabular_command(parse(["tabular", "fit", "--data", str(path), "--target", "y"]))
