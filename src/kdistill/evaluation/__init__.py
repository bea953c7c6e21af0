"""Evaluation and reporting: predictions, metrics, model cost profiles, run reports and plots.

Typical use after training::

    logits, labels = predict_logits(student, test_loader)
    teacher_logits, _ = predict_logits(teacher, test_loader)
    row = classification_metrics(logits, labels, teacher_logits) | profile_model(student, x_test[:1])
    write_report(run_dir, {"title": ..., "recipe": ..., "config": ..., "models": {"student": row}, "notes": []})

Plot functions need the optional ``plots`` extra (matplotlib); importing this package does not.
"""

from kdistill.evaluation.metrics import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    error_count,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
    top1_agreement,
)
from kdistill.evaluation.plots import plot_confusion, plot_reliability, plot_training_curves
from kdistill.evaluation.predict import predict_logits
from kdistill.evaluation.profile import (
    count_parameters,
    flops_per_sample,
    latency_ms,
    profile_model,
    weights_size_bytes,
)
from kdistill.evaluation.report import load_report, render_markdown, render_terminal_table, write_report

__all__ = [
    "accuracy",
    "classification_metrics",
    "confusion_matrix",
    "count_parameters",
    "error_count",
    "expected_calibration_error",
    "flops_per_sample",
    "latency_ms",
    "load_report",
    "negative_log_likelihood",
    "plot_confusion",
    "plot_reliability",
    "plot_training_curves",
    "predict_logits",
    "profile_model",
    "reliability_bins",
    "render_markdown",
    "render_terminal_table",
    "top1_agreement",
    "weights_size_bytes",
    "write_report",
]
