"""``kdistill tabular fit``: distil a tabular ensemble from a CSV/Parquet file into a small saved student.

    kdistill tabular fit --data adult.parquet --target income --teacher lightgbm --student tree --out runs/adult

Writes ``student.skops`` (load with ``kdistill.tabular.export.load_student``), ``report.json`` (test metrics for
teacher and student, latency per 1k rows, size - the student's is the saved file's -, tree depth/leaves) and, for tree
students, ``tree.txt`` and ``tree.png``; with ``--onnx`` also ``student.onnx`` (:mod:`kdistill.deploy.tabular`). Rows whose target is missing are dropped, logged and counted in the report
(:mod:`kdistill.tabular.tables`). ``kdistill.cli`` wires ``add_tabular_commands`` / ``run_tabular_command`` in.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from kdistill.cli_parsers import add_tabular_commands
from kdistill.errors import ConfigError, DataError
from kdistill.tabular import TEACHERS, DistilledClassifier, DistilledRegressor
from kdistill.tabular.export import load_teacher, save_student, tree_picture, tree_text
from kdistill.tabular.report import student_report
from kdistill.tabular.tables import drop_missing_target, infer_task, read_table, split_features

log = logging.getLogger(__name__)




def resolve_teacher_argument(teacher: str) -> Any:
    """A registered teacher name stays a name; a ``.skops`` path is loaded (allow-listed types only)."""
    if teacher in TEACHERS:
        return teacher
    if teacher.endswith(".skops"):
        return load_teacher(teacher)
    raise ConfigError(f"unknown teacher '{teacher}'; choose one of {', '.join(TEACHERS.names())} or pass a FILE.skops")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad numbers and an unusable --out before reading data or training anything."""
    if not 0 < args.test_size < 1:
        raise ConfigError(f"--test-size must be a share between 0 and 1 (exclusive); got {args.test_size}")
    if args.max_depth < 1 or (args.max_leaf_nodes is not None and args.max_leaf_nodes < 2):
        raise ConfigError(f"need --max-depth >= 1 and --max-leaf-nodes >= 2; "
                          f"got {args.max_depth}, {args.max_leaf_nodes}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file; give a folder for the student and its report")
    if getattr(args, "onnx", False):  # before training: a missing extra should not cost a fit
        from kdistill.deploy.runtime import require

        require("onnx", "onnxruntime")


def run_tabular_command(args: argparse.Namespace) -> int:
    from sklearn.model_selection import train_test_split

    if args.tabular_command != "fit":
        raise ConfigError(f"unknown tabular command '{args.tabular_command}'")
    check_arguments(args)
    frame = read_table(args.data)
    frame, n_dropped = drop_missing_target(frame, args.target)
    if n_dropped:
        log.warning("dropped %d of %d rows whose target '%s' is missing",
                    n_dropped, n_dropped + len(frame), args.target)
    task = infer_task(frame[args.target], args.task)
    X, y = split_features(frame, args.target, task)
    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=args.test_size, stratify=stratify,
                                                            random_state=args.seed)
    except ValueError as error:  # too few rows for the split (or for one test row per class)
        raise DataError(f"cannot hold out {args.test_size:g} of {len(y)} rows for the report "
                        f"({str(error).splitlines()[0]}); give more rows or change --test-size") from error
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
    saved = save_student(model, args.out / "student.skops")
    report = {"task": task, "data": str(args.data), "target": args.target, "n_train": len(X_train),
              "n_test": len(X_test), "dropped_rows_missing_target": n_dropped, "teacher": str(args.teacher),
              "student": args.student, "augmentation": args.augmentation, "multiplier": args.multiplier,
              "teacher_report": student_report(model.teacher_, X_test, y_test, task),
              "student_report": student_report(model, X_test, y_test, task, size_bytes=saved.stat().st_size)}
    if getattr(args, "onnx", False):
        report["onnx"] = export_onnx(model, args.out / "student.onnx", X_test)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    if args.student == "tree":
        if args.tree_format in ("text", "both"):
            (args.out / "tree.txt").write_text(tree_text(model))
        if args.tree_format in ("png", "both"):
            tree_picture(model, args.out / "tree.png")
    print(json.dumps({"teacher": report["teacher_report"], "student": report["student_report"]}, indent=2))
    onnx_file = f", {args.out / 'student.onnx'}" if "onnx" in report else ""
    print(f"saved {args.out / 'student.skops'}{onnx_file} and {args.out / 'report.json'}")
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
