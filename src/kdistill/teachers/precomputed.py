"""A teacher whose outputs arrive with the batch (computed earlier, e.g. a tabular ensemble's predictions)."""

from __future__ import annotations

import torch

from kdistill.batch import Batch
from kdistill.teachers.base import Teacher


class PrecomputedTeacher(Teacher):
    """Returns ``batch[key]``: logits computed ahead of time and carried by the data loader."""

    def __init__(self, key: str = "teacher_logits", num_classes: int | None = None):
        super().__init__()
        self.key, self.num_classes = key, num_classes

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        if self.key not in batch:
            raise KeyError(f"PrecomputedTeacher expects the batch to carry '{self.key}'; got keys {sorted(batch)}")
        return batch[self.key]
