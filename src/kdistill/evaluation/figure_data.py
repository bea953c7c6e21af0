"""The numbers behind a run's figures, small enough to keep in report.json: the HTML page (and ``kdistill report``,
``kdistill compare``) redraw every figure from them without the models or the test set.

    {"class_names": [...], "reference": "teacher" | "baseline", "student": "distilled" | "finetuned",
     "per_class_accuracy": {model: [accuracy of class c]},            # (C,) per model
     "confusion": {model: [[count]]},                                  # (C, C), row = true class
     "reliability": {model: {"confidence": [...], "accuracy": [...], "count": [...]}},   # 15 bins, None = empty
     "similarity": {"temperature": T, "matrix": [[p]]}}                # the teacher's mean soft targets per class

Matrices are kept up to ``MAX_CLASSES`` classes (beyond that a heat map is unreadable and report.json would grow by
megabytes); per-class accuracy and reliability always.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kdistill.evaluation.metrics import confusion_matrix, reliability_bins

MAX_CLASSES = 100


def figure_data(logits: dict[str, torch.Tensor], labels: torch.Tensor, class_names: list[str],
                temperature: float | None) -> dict[str, Any]:
    """From each model's test logits ``(N, C)`` and the labels ``(N,)``; ``temperature`` = the method's (None
    without a teacher: no similarity matrix)."""
    num_classes = len(class_names)
    labels = labels.detach().long().cpu()
    reference = "teacher" if "teacher" in logits else "baseline"
    data: dict[str, Any] = {
        "class_names": list(class_names),
        "reference": reference,
        "student": "finetuned" if "finetuned" in logits else "distilled",
        "per_class_accuracy": {name: per_class_accuracy(values, labels, num_classes) for name, values in logits.items()},
        "reliability": {name: bins_as_lists(values, labels) for name, values in logits.items()},
    }
    if num_classes <= MAX_CLASSES:
        data["confusion"] = {name: confusion_matrix(values.argmax(-1).cpu(), labels, num_classes).tolist()
                             for name, values in logits.items()}
        if "teacher" in logits and temperature is not None:
            data["similarity"] = {"temperature": float(temperature),
                                  "matrix": soft_target_similarity(logits["teacher"], labels, num_classes,
                                                                   temperature).tolist()}
    return data


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float | None]:
    """Recall of each true class; None for a class absent from the labels."""
    correct = (logits.detach().cpu().argmax(-1) == labels).double()
    count = torch.bincount(labels, minlength=num_classes)
    hits = torch.bincount(labels, weights=correct, minlength=num_classes)
    return [None if int(n) == 0 else float(h / n) for h, n in zip(hits, count)]


def soft_target_similarity(teacher_logits: torch.Tensor, labels: torch.Tensor, num_classes: int,
                           temperature: float) -> torch.Tensor:
    """(C, C): row i = the mean of softmax(z_t / T) over inputs of true class i (rows sum to 1; a class absent from
    the labels gives a zero row)."""
    probs = (teacher_logits.detach().double().cpu() / temperature).softmax(-1)  # (N, C)
    sums = torch.zeros(num_classes, num_classes, dtype=torch.float64).index_add_(0, labels, probs)
    return sums / torch.bincount(labels, minlength=num_classes).clamp(min=1).unsqueeze(1)


def bins_as_lists(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, list[Any]]:
    bins = reliability_bins(logits.detach().float().cpu().softmax(-1), labels)
    return {key: [None if isinstance(v, float) and math.isnan(v) else v for v in bins[key].tolist()]
            for key in ("confidence", "accuracy", "count")}
