"""Plain supervised training on hard labels: the "student from scratch" baseline and the teacher's own training."""

from __future__ import annotations

import torch
from torch import nn

from kdistill.batch import Batch, forward_model
from kdistill.losses import hard_label_cross_entropy
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


class SupervisedStrategy(nn.Module):
    """loss = CE(y, softmax(z_s))."""

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        logits = forward_model(student, batch)
        ce = hard_label_cross_entropy(logits, batch["labels"])
        return {"loss": ce, "output": logits, "ce": ce.detach()}


@register_method("supervised", uses_teacher=False)
def supervised(teacher: Teacher | None = None) -> SupervisedStrategy:
    """Cross-entropy on hard labels only (no teacher): baselines and teacher training."""
    return SupervisedStrategy()
