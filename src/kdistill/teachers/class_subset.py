"""A teacher restricted to a subset of classes, for class-specialised students (Wang et al. 2022).

Keeping only the chosen classes' logits and applying softmax at temperature T renormalises the teacher's
distribution over the subset: p_k = exp(z_k/T) / Σ_{j∈S} exp(z_j/T) for k ∈ S. The student predicts
``len(classes)`` outputs, in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdistill.batch import Batch
from kdistill.teachers.base import Teacher
from kdistill.teachers.frozen import as_teacher


class ClassSubsetTeacher(Teacher):
    """Wraps a teacher (or a plain model, frozen for you) and keeps only ``classes`` (in that order) from its logits."""

    def __init__(self, teacher: Teacher | nn.Module, classes: Sequence[int]):
        super().__init__()
        classes = [int(c) for c in classes]
        if len(set(classes)) != len(classes) or not classes:
            raise ValueError(f"classes must be a non-empty list without repeats, got {classes}")
        self.teacher = as_teacher(teacher)
        self.register_buffer("classes", torch.tensor(classes, dtype=torch.long), persistent=False)
        self.num_classes = len(classes)

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        full = self.teacher(batch)
        if int(self.classes.max()) >= full.shape[-1]:
            raise ValueError(f"class {int(self.classes.max())} is out of range for a {full.shape[-1]}-class teacher")
        return full.index_select(-1, self.classes)
