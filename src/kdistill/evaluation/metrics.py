"""Classification metrics as pure functions on tensors.

Shapes: ``logits`` / ``probs`` are ``(N, C)``, ``labels`` and predictions ``(N,)`` class ids. Every function works in
float32 or wider whatever the input dtype, and returns Python numbers (or CPU tensors for the per-bin tables).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdistill.errors import ShapeError


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose argmax equals the label, in [0, 1]."""
    _check_scores(logits, labels)
    return (logits.argmax(dim=1) == labels).double().mean().item()


def error_count(logits: torch.Tensor, labels: torch.Tensor) -> int:
    """Number of misclassified rows (papers such as Hinton et al. 2015 report MNIST results this way)."""
    _check_scores(logits, labels)
    return int((logits.argmax(dim=1) != labels).sum().item())


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean ``-log softmax(logits)[label]``; via log_softmax (log-sum-exp), so logits of size 1e3 stay finite."""
    _check_scores(logits, labels)
    return F.cross_entropy(logits.float(), labels.long(), reduction="mean").item()


def top1_agreement(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> float:
    """Fraction of rows where student and teacher predict the same class (Stanton et al. 2021 "fidelity")."""
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ShapeError(
            f"student and teacher logits must both be (N, C); got {tuple(student_logits.shape)} and "
            f"{tuple(teacher_logits.shape)}"
        )
    return (student_logits.argmax(dim=1) == teacher_logits.argmax(dim=1)).double().mean().item()


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> dict[str, torch.Tensor]:
    """Per-bin mean confidence, accuracy and count for a reliability diagram.

    The confidence of a row is ``max_c probs[c]``; bin ``b`` holds confidences in ``(b/n_bins, (b+1)/n_bins]`` (bin 0
    also takes exactly 0), as in Guo et al. 2017. Returns float64 CPU tensors ``edges (n_bins + 1,)``,
    ``confidence (n_bins,)``, ``accuracy (n_bins,)`` (NaN for empty bins, so plots leave gaps) and int64
    ``count (n_bins,)``.
    """
    _check_scores(probs, labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    probs, labels = probs.detach().double().cpu(), labels.detach().cpu()
    confidence, predicted = probs.max(dim=1)  # (N,), (N,)
    correct = (predicted == labels).double()
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    # right=False: index b satisfies edges[b] < conf <= edges[b+1] -> the (lo, hi] bins of the paper.
    bin_index = torch.bucketize(confidence, edges[1:-1], right=False)  # (N,) in [0, n_bins)
    count = torch.bincount(bin_index, minlength=n_bins)
    safe_count = count.clamp(min=1).double()
    mean_confidence = torch.bincount(bin_index, weights=confidence, minlength=n_bins) / safe_count
    mean_accuracy = torch.bincount(bin_index, weights=correct, minlength=n_bins) / safe_count
    empty = count == 0
    return {
        "edges": edges,
        "confidence": mean_confidence.masked_fill(empty, float("nan")),
        "accuracy": mean_accuracy.masked_fill(empty, float("nan")),
        "count": count,
    }


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """ECE = sum_b (n_b / N) * |acc_b - conf_b| over equal-width confidence bins (Guo et al. 2017), in [0, 1]."""
    bins = reliability_bins(probs, labels, n_bins)
    filled = bins["count"] > 0
    weights = bins["count"][filled].double() / bins["count"].sum()
    gaps = (bins["accuracy"][filled] - bins["confidence"][filled]).abs()
    return (weights * gaps).sum().item()


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts; row = true label, column = predicted class."""
    if pred.shape != labels.shape or pred.dim() != 1:
        raise ShapeError(f"pred and labels must both be (N,); got {tuple(pred.shape)} and {tuple(labels.shape)}")
    pred, labels = pred.detach().long().cpu(), labels.detach().long().cpu()
    # One bincount over the flattened (true, predicted) pair index instead of a Python loop.
    flat = torch.bincount(labels * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def classification_metrics(
    logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None = None, n_bins: int = 15
) -> dict[str, float | int | None]:
    """All report metrics in one dict: accuracy, errors, count, nll, ece, agreement (None without a teacher)."""
    logits = logits.detach().float().cpu()
    labels = labels.detach().long().cpu()
    probs = logits.softmax(dim=1)
    agreement = None
    if teacher_logits is not None:
        agreement = top1_agreement(logits, teacher_logits.detach().float().cpu())
    return {
        "accuracy": accuracy(logits, labels),
        "errors": error_count(logits, labels),
        "count": int(labels.shape[0]),
        "nll": negative_log_likelihood(logits, labels),
        "ece": expected_calibration_error(probs, labels, n_bins),
        "agreement": agreement,
    }


def _check_scores(scores: torch.Tensor, labels: torch.Tensor) -> None:
    if scores.dim() != 2 or labels.dim() != 1 or scores.shape[0] != labels.shape[0]:
        raise ShapeError(
            f"expected scores (N, C) and labels (N,); got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
    if scores.shape[0] == 0:
        raise ShapeError("cannot compute a metric on zero examples")
