"""Checks that turn silent garbage into one-line errors: non-finite values in a batch, labels outside the classes.

Shared by prediction (validation, test-set evaluation) and by the training loop's failure messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kdistill.errors import ShapeError

IGNORE_INDEX = -100  # label of positions that are not scored


def non_finite_summary(batch: Mapping[str, Any]) -> str | None:
    """``"inputs: 3 NaN, 1 inf of 4096 values"`` for each floating tensor of the batch holding NaN/inf, else None."""
    found = []
    for name, tensor in floating_tensors(batch):
        nan, inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
        if nan or inf:
            counts = ", ".join(f"{count} {kind}" for count, kind in ((nan, "NaN"), (inf, "inf")) if count)
            found.append(f"{name}: {counts} of {tensor.numel()} values")
    return "; ".join(found) or None


def floating_tensors(value: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """(dotted name, tensor) of every floating-point tensor in a batch dict, also inside a nested ``inputs`` dict."""
    if isinstance(value, torch.Tensor):
        return [(prefix, value.detach())] if value.is_floating_point() else []
    if isinstance(value, Mapping):
        return [item for key, nested in value.items()
                for item in floating_tensors(nested, f"{prefix}.{key}" if prefix else str(key))]
    return []


def check_label_range(labels: torch.Tensor, num_classes: int, what: str) -> None:
    """Raise a ShapeError when integer ``labels`` (ignoring -100) fall outside ``0..num_classes-1``."""
    if labels.is_floating_point() or labels.numel() == 0:
        return
    scored = labels[labels != IGNORE_INDEX]
    if scored.numel() == 0:
        return
    low, high = int(scored.min()), int(scored.max())
    if low < 0 or high >= num_classes:
        fix = f"build the model with num_classes={high + 1} or remap" if low >= 0 else "remap"
        raise ShapeError(f"{what}: labels range from {low} to {high} but the model outputs {num_classes} classes "
                         f"(ids 0..{num_classes - 1}); {fix} the labels to 0..{num_classes - 1}")
