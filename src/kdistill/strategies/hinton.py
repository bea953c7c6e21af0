"""Hinton, Vinyals & Dean (2015): the student matches the teacher's softened outputs at temperature T.

loss = ce_weight · CE(y, σ(z_s)) + kd_weight · T² · KL(σ(z_t/T) ‖ σ(z_s/T))   (α = ce_weight, β = kd_weight)
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from kdistill.arguments import OneOf, Temperature, Weight
from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError
from kdistill.losses import hinton_kd_loss, hinton_kd_loss_from_log_probs
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


class HintonStrategy(nn.Module):
    """Soft targets with temperature, optionally mixed with hard labels."""

    def __init__(self, teacher: Teacher, temperature: float, ce_weight: float, kd_weight: float, soft_loss: str):
        super().__init__()
        self.teacher = teacher
        self.temperature, self.ce_weight, self.kd_weight, self.soft_loss = temperature, ce_weight, kd_weight, soft_loss

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        labels = batch.get("labels")
        if not self.ce_weight and labels is not None and labels.dim() < 2:
            labels = None  # (B,) labels only feed the CE term; (B, T) labels also mask padding out of the KD term
        if self.soft_loss == "kl":  # the teacher's soft targets as log-probs: a cache serves them pre-decoded
            teacher_log_probs = self.teacher.log_probs(batch, self.temperature)
            student_logits = forward_model(student, batch)
            terms = hinton_kd_loss_from_log_probs(
                student_logits, teacher_log_probs, labels, self.temperature, self.ce_weight, self.kd_weight
            )
        else:
            teacher_logits = self.teacher(batch)
            student_logits = forward_model(student, batch)
            terms = hinton_kd_loss(student_logits, teacher_logits, labels, self.temperature, self.ce_weight,
                                   self.kd_weight, self.soft_loss)
        return {**terms, "output": student_logits}


@register_method("hinton", search_space={
    "temperature": ("log", 1.0, 20.0), "ce_weight": ("uniform", 0.0, 1.0), "kd_weight": ("uniform", 0.0, 1.0)})
def hinton(
    teacher: Teacher | None = None,
    temperature: Temperature = 4.0,
    ce_weight: Weight = 0.1,
    kd_weight: Weight = 0.9,
    soft_loss: Annotated[str, OneOf(("kl", "soft_ce", "mse"))] = "kl",
) -> HintonStrategy:
    """Hinton KD: α·CE(y, σ(z_s)) + β·T²·KL(σ(z_t/T) ‖ σ(z_s/T)) (soft_loss: kl | soft_ce | mse)."""
    if teacher is None:
        raise ConfigError("method 'hinton' needs a teacher")
    if soft_loss not in ("kl", "soft_ce", "mse"):
        raise ConfigError(f"soft_loss must be one of kl, soft_ce, mse; got {soft_loss!r}")
    return HintonStrategy(teacher, temperature, ce_weight, kd_weight, soft_loss)
