"""What a user wants to know about a student: test metric, inference latency per 1k rows, size, tree shape.

Latency: ``predict_proba``/``predict`` on batches of 1,000 evaluation rows (drawn with replacement from smaller
tables), median and 25th/75th percentiles of the CPU time of repeated calls, in milliseconds per 1,000 rows
(:func:`kdistill.tabular.selection.latency_ms_per_1k`). Size is the byte count of the model (without its teacher)
serialised as skops, the format ``save_student`` writes; callers that saved the file pass its real size instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score, roc_auc_score

from kdistill.tabular.selection import latency_batch, latency_ms_per_1k
from kdistill.tabular.students import BoostingStudent, TreeStudent


def classification_metrics(y_true: Any, probabilities: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    predicted = classes[np.argmax(probabilities, axis=1)]
    metrics = {"accuracy": float(accuracy_score(y_true, predicted))}
    y_index = np.searchsorted(classes, np.asarray(y_true))
    present = np.unique(y_index)
    if present.size == 2 and len(classes) == 2:
        metrics["auc"] = float(roc_auc_score(y_index, probabilities[:, 1]))
    elif present.size == len(classes) > 2:
        metrics["auc"] = float(roc_auc_score(y_index, probabilities, multi_class="ovr"))
    return metrics


def regression_metrics(y_true: Any, predictions: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=float)
    return {"rmse": float(np.sqrt(mean_squared_error(y_true, predictions))), "r2": float(r2_score(y_true, predictions))}


def evaluate(model: Any, X: Any, y: Any, task: str) -> dict[str, float]:
    if task == "classification":
        return classification_metrics(y, model.predict_proba(X), np.asarray(model.classes_))
    return regression_metrics(y, model.predict(X))


def latency(model: Any, X: Any, task: str, repeats: int = 7) -> dict[str, float]:
    """Median (and q25/q75) ms per 1k rows of the model's prediction call on 1,000 rows of ``X``."""
    predict = model.predict_proba if task == "classification" else model.predict
    return latency_ms_per_1k(predict, latency_batch(X), repeats)


def model_size_bytes(model: Any) -> int | None:
    """Bytes of the model saved as skops (what ``save_student`` writes); None if skops cannot serialise it."""
    import skops.io

    if hasattr(model, "without_teacher"):
        model = model.without_teacher()
    try:
        return len(skops.io.dumps(model))
    except Exception:  # a third-party teacher skops has no rule for: report no size rather than a wrong one
        return None


def tree_shape(model: Any) -> dict[str, int]:
    """Depth and leaves of a tree student; tree count and total leaves of a boosting student; {} otherwise."""
    student = getattr(model, "student_", None)
    if isinstance(student, TreeStudent):
        return {"tree_depth": int(student.model_.get_depth()), "tree_leaves": int(student.model_.get_n_leaves())}
    if isinstance(student, BoostingStudent):
        predictors = [tree for stage in student.model_._predictors for tree in stage]
        return {"trees": len(predictors), "tree_leaves": int(sum(tree.get_n_leaf_nodes() for tree in predictors))}
    return {}


def student_report(model: Any, X_test: Any, y_test: Any, task: str, size_bytes: int | None = None) -> dict[str, Any]:
    """Test metrics, latency, size and tree shape; ``size_bytes`` is the saved file's size when there is one."""
    return {
        **evaluate(model, X_test, y_test, task),
        **latency(model, X_test, task),
        "size_bytes": model_size_bytes(model) if size_bytes is None else size_bytes,
        **tree_shape(model),
    }


def comparison_report(model: Any, X_test: Any, y_test: Any, task: str, saved_bytes: int) -> dict[str, Any]:
    """Teacher, chosen student and both variants on the test rows, plus the validation comparison and candidates."""
    from kdistill.tabular.selection import saved_size_bytes

    report: dict[str, Any] = {
        "chosen": model.chosen_, "student_family": model.student_family_, "student_params": model.student_params_,
        "validation": {"metric": model.validation_metric_, "distilled": model.distilled_score_,
                       "direct": model.direct_score_, "teacher": getattr(model, "teacher_validation_", None)},
        "teacher_report": student_report(model.teacher_, X_test, y_test, task, size_bytes=model_size_bytes(model.teacher_)),
        "student_report": student_report(model, X_test, y_test, task, size_bytes=saved_bytes),
        "refit": model.refit_,
        "teacher_candidates": model.teacher_candidates_,  # teacher="auto": each candidate's validation score
    }
    for variant in getattr(model, "variant_fits_", {}):
        chosen = variant == model.chosen_
        other = model if chosen else model.variant_model(variant)
        row = next((r for r in model.candidates_ if r["variant"] == variant and r["family"] == other.student_family_
                    and r["params"] == other.student_params_), {})
        report[f"{variant}_report"] = {
            "family": other.student_family_, "params": other.student_params_,
            "within_budget": row.get("within_budget", True),
            **student_report(other, X_test, y_test, task, size_bytes=saved_bytes if chosen else saved_size_bytes(other))}
    report["candidates"] = model.candidates_
    return report


def refit_sentence(refit: dict[str, Any] | None) -> str:
    """How the reported students were trained after the validation rows chose them (kdistill.tabular.refit)."""
    if not refit:
        return "; students trained without the validation rows (no refit)"
    return (f"; teacher and students then trained again on all {refit['rows']} training rows (teacher: "
            f"{refit['teacher']}, student sizes {refit['student_params']})")


def teacher_sentence(candidates: list[dict[str, Any]] | None) -> str:
    """teacher="auto": which candidate the validation rows kept, with every candidate's score."""
    if not candidates:
        return ""
    scores = ", ".join(f"{row['teacher']} {row['score']:.4f}{' (kept)' if row['chosen'] else ''}" for row in candidates)
    return f"; teacher chosen on validation {candidates[0]['metric']}: {scores}"


def report_markdown(report: dict[str, Any]) -> str:
    """The report's rows as a small markdown table: teacher, distilled and direct on the test rows."""
    metric = "auc" if "auc" in report["teacher_report"] else ("accuracy" if report["task"] == "classification" else "r2")
    lines = [f"# kdistill tabular fit: {report['data']} -> {report['target']} ({report['task']})", "",
             f"split: {report['split']}; {report['n_train']} training rows, {report['n_test']} test rows; "
             f"kept: **{report['chosen']}** {report['student_family']} {report['student_params']}"
             + refit_sentence(report.get("refit")) + teacher_sentence(report.get("teacher_candidates")), "",
             f"| model | test {metric} | latency ms/1k (q25-q75) | size KB | validation {report['validation']['metric']} |",
             "|---|---|---|---|---|"]
    validation = report["validation"]
    rows = [("teacher", report["teacher_report"], (validation.get("teacher") or {}).get("score"))]
    for variant in ("distilled", "direct"):
        if f"{variant}_report" in report:
            row = report[f"{variant}_report"]
            note = " (kept)" if variant == report["chosen"] else ("" if row.get("within_budget", True) else " (over budget)")
            rows.append((f"{variant}{note}", row, validation.get(variant)))
    if len(rows) == 1:
        rows.append((f"{report['chosen']} (kept)", report["student_report"], None))
    for name, row, score in rows:
        size = "" if row.get("size_bytes") is None else f"{row['size_bytes'] / 1024:.0f}"
        lines.append(f"| {name} | {row.get(metric, float('nan')):.4f} | {row['latency_ms_per_1k']:.2f} "
                     f"({row['latency_ms_per_1k_q25']:.2f}-{row['latency_ms_per_1k_q75']:.2f}) | {size} | "
                     f"{'' if score is None else f'{score:.4f}'} |")
    return "\n".join(lines) + "\n"
