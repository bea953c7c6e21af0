"""Refuse labels outside [0, num_classes): cross-entropy would raise an index error mid-training, or worse, a label
that is in range for a bigger head would train silently on the wrong class."""

from __future__ import annotations

import torch

from kdistill.errors import DataError


def check_label_range(labels: torch.Tensor, num_classes: int, where: str, fix: str) -> None:
    """DataError naming how many of ``labels`` (N,) fall outside [0, num_classes), their range, and ``fix``."""
    outside = (labels < 0) | (labels >= num_classes)
    count = int(outside.sum())
    if count:
        raise DataError(
            f"{where}: {count} of {len(labels)} labels are outside 0..{num_classes - 1} "
            f"(min {int(labels.min())}, max {int(labels.max())}); {fix}"
        )
