"""``kdistill tabular fit``: distil a tabular ensemble from a CSV/Parquet file into a small saved student.

    kdistill tabular fit --data adult.parquet --target income --teacher lightgbm --student tree --out runs/adult

Every fit also trains the same student directly on the labels and keeps the better on validation rows carved from
the training rows (``--prefer`` overrides), then trains the teacher and the kept student again on all training rows
(``--no-refit`` keeps the compared ones); ``--max-latency MS`` (CPU ms per 1k-row batch) and/or ``--max-size BYTES``
search student families and sizes within the budget (``--student auto`` searches without one). The test rows are a
stratified share (regression: by target quantile bins), or fixed with ``--split-column COLUMN`` / ``--test-data FILE``.

Writes ``student.skops`` (load with ``kdistill.tabular.export.load_student``), ``report.json`` and ``report.md``
(teacher, distilled and direct rows on the test rows: metric, latency per 1k rows as median and quartiles of 1k-row
batches, size - the chosen student's is the saved file's -, tree shape; validation scores; every candidate),
``front.png`` (validation score against latency: teacher, distilled and direct candidates) and, for tree students,
``tree.txt`` and ``tree.png``; with ``--onnx`` also ``student.onnx`` (:mod:`kdistill.deploy.tabular`). Rows whose target is missing are dropped, logged and counted in the report
(:mod:`kdistill.tabular.tables`). ``kdistill.cli`` wires ``add_tabular_commands`` / ``run_tabular_command`` in.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from kdistill.atomic import atomic_write_text
from kdistill.cli_parsers import add_tabular_commands
from kdistill.errors import ConfigError, DataError
from kdistill.tabular import TEACHERS, DistilledClassifier, DistilledRegressor
from kdistill.tabular.export import load_teacher, save_student, tree_picture, tree_text
from kdistill.tabular.front import draw_front
from kdistill.tabular.report import comparison_report, report_markdown
from kdistill.tabular.splits import holdout_rows
from kdistill.tabular.teacher_choice import AUTO, CANDIDATES
from kdistill.tabular.tables import (
    drop_missing_target,
    infer_task,
    read_table,
    split_features,
)

log = logging.getLogger(__name__)




def resolve_teacher_argument(teacher: str) -> Any:
    """A registered teacher name stays a name; a ``.skops`` path is loaded (allow-listed types only)."""
    if teacher in TEACHERS or teacher == AUTO:
        return teacher
    if teacher.endswith(".skops"):
        return load_teacher(teacher)
    raise ConfigError(f"unknown teacher '{teacher}'; choose one of {', '.join(TEACHERS.names())}, {AUTO} (the best of "
                      f"{', '.join(CANDIDATES)} on the validation rows) or pass a FILE.skops")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad numbers and an unusable --out before reading data or training anything."""
    if not 0 < args.test_size < 1:
        raise ConfigError(f"--test-size must be a share between 0 and 1 (exclusive); got {args.test_size}")
    if not 0 <= args.validation_size < 1:
        raise ConfigError(f"--validation-size must be a share in [0, 1); got {args.validation_size}")
    if args.teacher == AUTO and args.validation_size == 0:
        raise ConfigError("--teacher auto chooses the teacher on validation rows; set --validation-size > 0 or name a "
                          "teacher")
    if (args.max_depth is not None and args.max_depth < 1) or (args.max_leaf_nodes is not None and args.max_leaf_nodes < 2):
        raise ConfigError(f"need --max-depth >= 1 and --max-leaf-nodes >= 2; "
                          f"got {args.max_depth}, {args.max_leaf_nodes}")
    for flag, value in (("--max-latency", args.max_latency), ("--max-size", args.max_size)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be > 0; got {value}")
    if args.split_column is not None and args.test_data is not None:
        raise ConfigError("give one fixed split: --split-column or --test-data, not both")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file; give a folder for the student and its report")
    if getattr(args, "onnx", False):  # before training: a missing extra should not cost a fit
        from kdistill.deploy.runtime import require

        require("onnx", "onnxruntime")


def labelled_rows(path: Any, target: str) -> tuple[Any, int]:
    frame, n_dropped = drop_missing_target(read_table(path), target)
    if n_dropped:
        log.warning("dropped %d of %d rows whose target '%s' is missing (%s)",
                    n_dropped, n_dropped + len(frame), target, path)
    return frame, n_dropped


def test_row_mask(frame: Any, args: argparse.Namespace, task: str) -> tuple[Any, np.ndarray, str]:
    """(all labelled rows, mask of the test rows, how they were split): --test-data rows are appended to the data's,
    --split-column marks them (and is dropped), else a stratified random share (regression: by target bins)."""
    if args.test_data is not None:
        test, _ = labelled_rows(args.test_data, args.target)
        missing = sorted(set(map(str, frame.columns)) - set(map(str, test.columns)))
        if missing:
            raise DataError(f"--test-data {args.test_data} lacks the columns {', '.join(missing[:10])}")
        combined = pd.concat([frame, test[list(frame.columns)]], ignore_index=True)
        return combined, np.arange(len(combined)) >= len(frame), f"file {args.test_data}"
    if args.split_column is not None:
        if args.split_column not in frame.columns or args.split_column == args.target:
            raise DataError(f"--split-column '{args.split_column}' is not a feature column of the data")
        marks = frame[args.split_column].astype(str).str.strip().str.lower()
        is_test = marks.isin(["test", "true", "1", "1.0"]).to_numpy()
        if is_test.all() or not is_test.any():
            raise DataError(f"--split-column '{args.split_column}' marks {int(is_test.sum())} of {len(frame)} rows as "
                            "test; mark some (not all) rows 'test' (or true / 1)")
        return frame.drop(columns=[args.split_column]), is_test, f"column {args.split_column}"
    y = frame[args.target].to_numpy()
    n_classes = len(np.unique(y.astype(str))) if task == "classification" else 1
    if np.ceil(args.test_size * len(y)) < n_classes or len(y) < 2:
        raise DataError(f"cannot hold out {args.test_size:g} of {len(y)} rows for the report (fewer test rows than "
                        f"the {n_classes} classes); give more rows or change --test-size")
    try:
        _, held = holdout_rows(y, task, args.test_size, args.seed)
    except DataError as error:
        raise DataError(f"cannot hold out {args.test_size:g} of {len(y)} rows for the report ({error}); give "
                        "more rows or change --test-size") from error
    is_test = np.zeros(len(y), dtype=bool)
    is_test[held] = True
    return frame, is_test, f"random {args.test_size:g} (stratified, seed {args.seed})"


def build_estimator(args: argparse.Namespace, task: str) -> Any:
    estimator = DistilledClassifier if task == "classification" else DistilledRegressor
    tree_size = {key: value for key, value in (("max_depth", args.max_depth), ("max_leaf_nodes", args.max_leaf_nodes))
                 if value is not None}
    extra = {"temperature": args.temperature} if task == "classification" else {}
    return estimator(
        teacher=resolve_teacher_argument(args.teacher), student=args.student,
        student_params=tree_size if args.student == "tree" and tree_size else None,
        augmentation=None if args.augmentation == "none" else args.augmentation,
        augmentation_multiplier=args.multiplier, label_weight=args.label_weight, prefer=args.prefer,
        validation_size=args.validation_size, max_latency_ms=args.max_latency, max_size_bytes=args.max_size,
        refit=args.refit, progress=True, random_state=args.seed, **extra)


def run_tabular_command(args: argparse.Namespace) -> int:
    if args.tabular_command != "fit":
        raise ConfigError(f"unknown tabular command '{args.tabular_command}'")
    check_arguments(args)
    frame, n_dropped = labelled_rows(args.data, args.target)
    task = infer_task(frame[args.target], args.task)
    frame, is_test, split = test_row_mask(frame, args, task)
    # Features of all rows at once: one check, and text columns become categories with one category list.
    X, y = split_features(frame.reset_index(drop=True), args.target, task)
    X_train, y_train = X[~is_test].reset_index(drop=True), y[~is_test].reset_index(drop=True)
    X_test, y_test = X[is_test].reset_index(drop=True), y[is_test].reset_index(drop=True)
    model = build_estimator(args, task).fit(X_train, y_train)

    args.out.mkdir(parents=True, exist_ok=True)
    saved = save_student(model, args.out / "student.skops")
    report = {"task": task, "data": str(args.data), "target": args.target, "split": split, "n_train": len(X_train),
              "n_test": len(X_test), "dropped_rows_missing_target": n_dropped, "teacher": str(args.teacher),
              "student": args.student, "augmentation": args.augmentation, "multiplier": args.multiplier,
              **comparison_report(model, X_test, y_test, task, saved.stat().st_size)}
    if getattr(args, "onnx", False):
        report["onnx"] = export_onnx(model, args.out / "student.onnx", X_test)
    if any("latency_ms_per_1k" in row for row in model.candidates_):
        report["front_png"] = str(draw_front(model.candidates_, args.out / "front.png", model.validation_metric_,
                                             getattr(model, "teacher_validation_", None), args.max_latency))
    atomic_write_text(args.out / "report.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(args.out / "report.md", report_markdown(report))
    if model.student_family_ == "tree":
        if args.tree_format in ("text", "both"):
            (args.out / "tree.txt").write_text(tree_text(model))
        if args.tree_format in ("png", "both"):
            tree_picture(model, args.out / "tree.png")
    print(report_markdown(report))
    onnx_file = f", {args.out / 'student.onnx'}" if "onnx" in report else ""
    print(f"saved {args.out / 'student.skops'}{onnx_file}, {args.out / 'report.json'} and {args.out / 'report.md'}")
    return 0


def export_onnx(model: Any, path: Any, X_test: Any) -> dict[str, Any]:
    """``--onnx``: the student as one ONNX graph, checked against predict_proba / predict on the test rows."""
    from kdistill.deploy.api import export

    exported = export(model, path, X=X_test)
    return {**exported["files"]["onnx"], "check": exported["check"]}


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
        print(f"kdistill: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
