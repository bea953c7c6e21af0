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
    with pytest.raises(DataError, match=r"\.csv or \.parquet"):
        run_tabular_command(parse(["tabular", "fit", "--data", str(path), "--target", "y"]))


def run_main(argv, capsys):
    """(exit code, stderr lines) of the real entry point ``kdistill.cli.main``."""
    from kdistill.cli import main

    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


def fit_argv(data, target="label", out=None, *extra):
    argv = ["tabular", "fit", "--data", str(data), "--target", target, "--teacher", "random_forest",
            "--augmentation", "none", "--tree-format", "text", *extra]
    return argv + (["--out", str(out)] if out else [])


def assert_one_error_line(code, lines, *words):
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("kdistill: error:"), lines
    for word in words:
        assert word in lines[0]


def test_report_size_is_the_saved_file_size(csv_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(fit_argv(csv_file, "label", out), capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["student_report"]["size_bytes"] == (out / "student.skops").stat().st_size


def test_all_missing_target_is_refused(tmp_path, capsys):
    path = tmp_path / "table.csv"
    pd.DataFrame({"x": np.arange(20), "label": [np.nan] * 20}).to_csv(path, index=False)
    assert_one_error_line(*run_main(fit_argv(path), capsys), "'label' is missing", "all 20 rows")


def test_rows_with_missing_target_are_dropped_and_counted(csv_file, tmp_path, capsys, caplog):
    frame = pd.read_csv(csv_file)
    frame.loc[::10, "label"] = np.nan  # 20 of 200 rows
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    assert run_main(fit_argv(path, "label", out), capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dropped_rows_missing_target"] == 20
    assert report["n_train"] + report["n_test"] == 180
    assert "dropped 20 of 200 rows whose target 'label' is missing" in caplog.text


def test_brotli_parquet_is_read(csv_file, tmp_path, capsys):
    path = tmp_path / "table.parquet.brotli"
    pd.read_csv(csv_file).to_parquet(path, compression="brotli")
    out = tmp_path / "run"
    assert run_main(fit_argv(path, "label", out), capsys)[0] == 0
    assert json.loads((out / "report.json").read_text())["n_train"] == 160


def test_missing_target_column_is_one_line(csv_file, capsys):
    assert_one_error_line(*run_main(fit_argv(csv_file, "price"), capsys), "target column 'price' is not in the data")


@pytest.mark.parametrize("name, content", [
    ("table.parquet", b"PAR1 this is not parquet"),
    ("table.parquet.brotli", b"\x00\x01 garbage"),
    ("table.csv", b"\xff\xfe\x00\x81\x82 binary \x00\x9f"),
    ("table.csv", b""),
    ("table.csv.gz", b"not gzip"),
], ids=["parquet", "parquet.brotli", "binary-csv", "empty-csv", "csv.gz"])
def test_corrupt_table_file_is_one_line(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_error_line(*run_main(fit_argv(path), capsys), f"cannot read {path}", "the file is complete")


def test_directory_as_data_is_one_line(tmp_path, capsys):
    (tmp_path / "table.csv").mkdir()
    assert_one_error_line(*run_main(fit_argv(tmp_path / "table.csv"), capsys), "is not a file")


def test_too_few_rows_to_hold_out_a_test_set_is_one_line(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"x": range(5), "label": ["a", "a", "a", "b", "b"]}).to_csv(path, index=False)
    assert_one_error_line(*run_main(fit_argv(path), capsys), "cannot hold out 0.2 of 5 rows")


@pytest.mark.parametrize("share", ["0", "1", "1.5"])
def test_test_size_outside_zero_one_is_one_line(csv_file, capsys, share):
    assert_one_error_line(*run_main(fit_argv(csv_file, "label", None, "--test-size", share), capsys), "--test-size")


def test_table_with_only_the_target_is_one_line(tmp_path, capsys):
    path = tmp_path / "target_only.csv"
    pd.DataFrame({"label": ["a", "b"] * 10}).to_csv(path, index=False)
    assert_one_error_line(*run_main(fit_argv(path), capsys), "no feature columns")


def test_date_column_is_one_line(csv_file, tmp_path, capsys):
    """It used to exit 0 with a student holding pandas.Timestamp categories, which load_student refuses."""
    frame = pd.read_csv(csv_file)
    frame["when"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(frame)) % 7, "D")
    path = tmp_path / "dated.parquet"
    frame.to_parquet(path)
    code, lines = run_main(fit_argv(path, "label", tmp_path / "run"), capsys)
    assert_one_error_line(code, lines, "column 'when' holds datetime64")


def test_infinite_target_is_one_line(tmp_path, capsys):
    path = tmp_path / "inf.csv"
    pd.DataFrame({"x": range(30), "price": [1.5, float("inf"), 3.0] * 10}).to_csv(path, index=False)
    assert_one_error_line(*run_main(fit_argv(path, "price"), capsys), "column 'price' is infinite in 10 rows")


@pytest.mark.parametrize("flag, value", [("--max-depth", "0"), ("--max-leaf-nodes", "1")])
def test_tree_size_out_of_range_is_one_line(csv_file, capsys, flag, value):
    assert_one_error_line(*run_main(fit_argv(csv_file, "label", None, flag, value), capsys), "--max-depth >= 1")


def test_out_that_is_a_file_is_one_line(csv_file, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert_one_error_line(*run_main(fit_argv(csv_file, "label", taken), capsys), "is a file")


def test_report_has_distilled_and_direct_rows_and_keeps_the_better(csv_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(fit_argv(csv_file, "label", out), capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    validation = report["validation"]
    assert {"distilled_report", "direct_report"} <= set(report)
    better = "distilled" if validation["distilled"] >= validation["direct"] else "direct"
    assert report["chosen"] == better
    assert report[f"{better}_report"]["size_bytes"] == (out / "student.skops").stat().st_size
    markdown = (out / "report.md").read_text()
    assert "| distilled" in markdown and "| direct" in markdown and "| teacher" in markdown
    assert (out / "front.png").stat().st_size > 0


def test_split_column_fixes_the_test_rows(csv_file, tmp_path, capsys):
    frame = pd.read_csv(csv_file)
    frame["part"] = np.where(np.arange(len(frame)) < 150, "train", "test")
    path = tmp_path / "split.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    assert run_main(fit_argv(path, "label", out, "--split-column", "part"), capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["n_train"], report["n_test"]) == (150, 50) and report["split"] == "column part"
    assert "part" not in load_student(out / "student.skops").feature_names_in_


def test_test_data_file_is_the_test_split(csv_file, tmp_path, capsys):
    frame = pd.read_csv(csv_file)
    train, test = tmp_path / "train.csv", tmp_path / "test.parquet"
    frame.iloc[:170].to_csv(train, index=False)
    frame.iloc[170:].to_parquet(test)
    out = tmp_path / "run"
    assert run_main(fit_argv(train, "label", out, "--test-data", str(test)), capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["n_train"], report["n_test"]) == (170, 30)


def test_regression_test_split_is_stratified_by_target_bins(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = np.where(np.arange(200) < 20, 1000.0, x * 3)  # a 10% tail
    path = tmp_path / "tail.csv"
    pd.DataFrame({"x": x, "z": rng.normal(size=200), "price": y}).to_csv(path, index=False)
    from kdistill.tabular.splits import holdout_rows

    _, held = holdout_rows(y, "regression", 0.2, 0)
    assert (y[held] == 1000.0).sum() == 4
    out = tmp_path / "run"
    assert run_main(fit_argv(path, "price", out), capsys)[0] == 0
    assert json.loads((out / "report.json").read_text())["n_test"] == 40


def test_latency_budget_picks_a_student_within_it(csv_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = fit_argv(csv_file, "label", out, "--student", "tree", "--max-latency", "1000", "--max-size", "60000")
    assert run_main(argv, capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    candidates = report["candidates"]
    assert len(candidates) == 10  # 5 tree sizes x (distilled, direct)
    chosen = [c for c in candidates if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["size_bytes"] <= 60000 and chosen[0]["within_budget"]
    assert chosen[0]["score"] == max(c["score"] for c in candidates if c["within_budget"])


@pytest.mark.parametrize("flags, words", [
    (["--max-latency", "0"], "--max-latency must be > 0"),
    (["--split-column", "city", "--test-data", "x.csv"], "one fixed split"),
    (["--split-column", "nope"], "--split-column 'nope'"),
])
def test_bad_split_and_budget_flags_are_one_line(csv_file, capsys, flags, words):
    assert_one_error_line(*run_main(fit_argv(csv_file, "label", None, *flags), capsys), words)


@pytest.mark.parametrize("flag", [[], ["--no-refit"]])
def test_report_says_whether_the_students_were_refit_on_all_rows(csv_file, tmp_path, capsys, flag):
    out = tmp_path / "run"
    assert run_main(fit_argv(csv_file, "label", out, *flag), capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    markdown = (out / "report.md").read_text()
    if flag:
        assert report["refit"] is None and "no refit" in markdown
    else:
        assert report["refit"]["rows"] == report["n_train"] and "trained again on all" in markdown


def test_teacher_auto_reports_every_candidate(csv_file, tmp_path, capsys, monkeypatch):
    import kdistill.tabular.teacher_choice as teacher_choice

    monkeypatch.setattr(teacher_choice, "CANDIDATES", ("random_forest", "gradient_boosting"))
    out = tmp_path / "run"
    argv = fit_argv(csv_file, "label", out)
    argv[argv.index("random_forest")] = "auto"
    assert run_main(argv, capsys)[0] == 0
    report = json.loads((out / "report.json").read_text())
    assert [row["teacher"] for row in report["teacher_candidates"]] == ["random_forest", "gradient_boosting"]
    assert "teacher chosen on validation" in (out / "report.md").read_text()


def test_teacher_auto_without_validation_rows_is_one_line_before_the_data_is_read(tmp_path, capsys):
    argv = ["tabular", "fit", "--data", str(tmp_path / "missing.csv"), "--target", "label", "--teacher", "auto",
            "--validation-size", "0", "--out", str(tmp_path / "run")]
    code, lines = run_main(argv, capsys)  # the data file does not exist: the flags are refused first
    assert_one_error_line(code, lines, "--teacher auto", "--validation-size > 0")
    assert not (tmp_path / "run").exists()
