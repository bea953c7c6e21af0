"""``kdistill tabular fit``: distil a tabular ensemble from a CSV/Parquet file into a small saved student.

    kdistill tabular fit --data adult.parquet --target income --teacher lightgbm --student tree --out runs/adult

Writes ``student.skops`` (load with ``kdistill.tabular.export.load_student``), ``report.json`` (test metrics for
teacher and student, latency per 1k rows, size, tree depth/leaves) and, for tree students, ``tree.txt`` and
``tree.png``. The lead wires ``add_tabular_commands`` / ``run_tabular_command`` into the main CLI.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from kdistill.cli_parsers import add_tabular_commands  # noqa: F401  (defined there, without heavy imports)
from kdistill.errors import ConfigError, DataError
from kdistill.tabular import TEACHERS, DistilledClassifier, DistilledRegressor
from kdistill.tabular.export import load_student, save_student, tree_picture, tree_text
from kdistill.tabular.report import student_report


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"data file {path} does not exist; pass --data FILE.csv or FILE.parquet")
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise DataError(f"cannot read {path.name}: --data must be a .csv or .parquet file")


def infer_task(target: pd.Series, requested: str) -> str:
    if requested != "auto":
        return requested
    if not pd.api.types.is_numeric_dtype(target.dtype) or pd.api.types.is_bool_dtype(target.dtype):
        return "classification"
    integral = pd.api.types.is_integer_dtype(target.dtype) or (target.dropna() % 1 == 0).all()
    return "classification" if integral and target.nunique() <= 20 else "regression"


def split_features(frame: pd.DataFrame, target: str, task: str):
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise DataError(f"target column '{target}' is not in the data; columns are: {shown}")
    frame = frame[frame[target].notna()]
    y = frame[target]
    if task == "classification" and y.nunique() < 2:
        raise DataError(f"target '{target}' has a single class ({y.iloc[0]!r} in all {len(y)} rows); "
                        "a classifier needs at least 2 classes")
    if task == "regression" and not pd.api.types.is_numeric_dtype(y.dtype):
        raise DataError(f"target '{target}' is not numeric; use --task classification or pick a numeric column")
    X = frame.drop(columns=[target])
    for column in X.columns:  # strings become categories: the encoders and augmenters read them as such
        if X[column].dtype == object or pd.api.types.is_string_dtype(X[column].dtype):
            X[column] = X[column].astype("category")
    return X, y


def resolve_teacher_argument(teacher: str) -> Any:
    """A registered teacher name stays a name; a ``.skops`` path is loaded (kdistill/scikit-learn types only)."""
    if teacher in TEACHERS:
        return teacher
    if teacher.endswith(".skops"):
        return load_student(teacher)
    raise ConfigError(f"unknown teacher '{teacher}'; choose one of {', '.join(TEACHERS.names())} or pass a FILE.skops")


def run_tabular_command(args: argparse.Namespace) -> int:
    from sklearn.model_selection import train_test_split

    if args.tabular_command != "fit":
        raise ConfigError(f"unknown tabular command '{args.tabular_command}'")
    frame = read_table(args.data)
    task = infer_task(frame[args.target], args.task) if args.target in frame.columns else args.task
    X, y = split_features(frame, args.target, task)
    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=args.test_size, stratify=stratify,
                                                        random_state=args.seed)
    estimator = DistilledClassifier if task == "classification" else DistilledRegressor
    teacher = resolve_teacher_argument(args.teacher)
    extra = {"temperature": args.temperature} if task == "classification" else {}
    model = estimator(
        teacher=teacher, student=args.student,
        student_params=({"max_depth": args.max_depth, "max_leaf_nodes": args.max_leaf_nodes}
                        if args.student == "tree" else None),
        augmentation=None if args.augmentation == "none" else args.augmentation,
        augmentation_multiplier=args.multiplier, label_weight=args.label_weight, progress=True,
        random_state=args.seed, **extra,
    ).fit(X_train, y_train)

    args.out.mkdir(parents=True, exist_ok=True)
    save_student(model, args.out / "student.skops")
    report = {"task": task, "data": str(args.data), "target": args.target, "n_train": len(X_train),
              "n_test": len(X_test), "teacher": str(args.teacher), "student": args.student,
              "augmentation": args.augmentation, "multiplier": args.multiplier,
              "teacher_report": student_report(model.teacher_, X_test, y_test, task),
              "student_report": student_report(model, X_test, y_test, task)}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    if args.student == "tree":
        if args.tree_format in ("text", "both"):
            (args.out / "tree.txt").write_text(tree_text(model))
        if args.tree_format in ("png", "both"):
            tree_picture(model, args.out / "tree.png")
    print(json.dumps({"teacher": report["teacher_report"], "student": report["student_report"]}, indent=2))
    print(f"saved {args.out / 'student.skops'} and {args.out / 'report.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m kdistill.tabular.cli tabular fit ...``) until the main CLI wires it in."""
    import sys

    from kdistill.errors import KdistillError

    parser = argparse.ArgumentParser(prog="kdistill")
    add_tabular_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return run_tabular_command(args)
    except KdistillError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
