"""A single pre-trained network used as a teacher: any ``nn.Module`` - kdistill's, plain torch, or a Hugging Face
model - whose output is a logits tensor, a tuple (logits first) or an object with ``.logits``."""

from __future__ import annotations

import torch
from torch import nn

from kdistill.batch import Batch, forward_model
from kdistill.teachers.base import Teacher, freeze


class FrozenTeacher(Teacher):
    """Wraps any ``nn.Module``: eval forever, no grad. ``num_classes`` is read from the first output if not given."""

    def __init__(self, model: nn.Module, num_classes: int | None = None):
        super().__init__()
        self.model = freeze(model)
        self.num_classes = num_classes

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        logits = forward_model(self.model, batch)
        if self.num_classes is None:
            self.num_classes = int(logits.shape[-1])
        return logits


def as_teacher(model: nn.Module) -> Teacher:
    """``model`` itself when it is already a :class:`Teacher`, else ``FrozenTeacher(model)``."""
    return model if isinstance(model, Teacher) else FrozenTeacher(model)
