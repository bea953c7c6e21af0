"""Decoupled knowledge distillation (Zhao, Cui, Song, Qiu & Liang 2022, "Decoupled Knowledge Distillation", CVPR).

Classical KD splits into a target-class part and a non-target part. With b = [p_gt, 1 − p_gt] the binary
target/non-target probabilities and p̂ the distribution over the C − 1 non-target classes (all at temperature T):

    TCKD = T² · KL(b_t ‖ b_s),   NCKD = T² · KL(p̂_t ‖ p̂_s)       (batch-mean)
    L_DKD = α · TCKD + β · NCKD

KD itself is TCKD + (1 − p_gt^t) · NCKD: the teacher's confidence suppresses NCKD, which DKD frees with its own β.
Logits only: no feature taps, so any teacher works. Our default β = 2 (mdistiller's resnet56 -> resnet20 config):
β = 8 without its 20-epoch warm-up collapsed short runs (15-82 %; benchmarks/results/method_defaults.md).
mdistiller's CIFAR-100 defaults: α = 1, β = 8 (its per-pair
configs lower β for some pairs), T = 4, CE weight 1, and the DKD weight ramped linearly from 0 over the first 20 of
240 epochs (``warmup_steps`` here, counted in training steps and checkpointed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.arguments import NonNegativeInt, Temperature, Weight
from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError
from kdistill.losses.reduction import check_same_shape
from kdistill.strategies.features_common import logit_terms, weighted_step
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def binary_log_probs(logits: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """(B, C) logits -> (B, 2) log [p_gt, 1 − p_gt], computed by logsumexp (stable when p_gt ≈ 1)."""
    total = torch.logsumexp(logits, dim=1)
    target = (logits * target_mask).sum(1)
    others = torch.logsumexp(logits.masked_fill(target_mask.bool(), float("-inf")), dim=1)
    return torch.stack([target - total, others - total], dim=1)


def dkd_terms(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(TCKD, NCKD), each T²-scaled and batch-mean; logits (B, C), labels (B,) class ids."""
    check_same_shape(student_logits, teacher_logits)
    student = student_logits.float() / temperature
    teacher = teacher_logits.float() / temperature
    target_mask = F.one_hot(labels, student.shape[1]).to(student.dtype)  # (B, C)
    batch, classes = student.shape
    tckd = F.kl_div(binary_log_probs(student, target_mask), binary_log_probs(teacher, target_mask),
                    reduction="sum", log_target=True) / batch
    others = ~target_mask.bool()
    student_rest = F.log_softmax(student[others].view(batch, classes - 1), dim=1)  # (B, C−1)
    teacher_rest = F.log_softmax(teacher[others].view(batch, classes - 1), dim=1)
    nckd = F.kl_div(student_rest, teacher_rest, reduction="sum", log_target=True) / batch
    return tckd * temperature**2, nckd * temperature**2


def dkd_loss(student_logits, teacher_logits, labels, temperature: float, alpha: float, beta: float) -> torch.Tensor:
    """α · TCKD + β · NCKD (see the module docstring)."""
    tckd, nckd = dkd_terms(student_logits, teacher_logits, labels, temperature)
    return alpha * tckd + beta * nckd


class DKDStrategy(nn.Module):
    """ce_weight·CE + kd_weight·KD + feature_weight·ramp·(α·TCKD + β·NCKD), ramp = min(1, step / warmup_steps)."""

    def __init__(self, teacher: Teacher, alpha: float, beta: float, temperature: float, ce_weight: float,
                 kd_weight: float, feature_weight: float, warmup_steps: int):
        super().__init__()
        self.teacher = teacher
        self.alpha, self.beta, self.temperature = alpha, beta, temperature
        self.ce_weight, self.kd_weight, self.feature_weight = ce_weight, kd_weight, feature_weight
        self.warmup_steps = warmup_steps
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        teacher_logits = self.teacher(batch)
        student_logits = forward_model(student, batch)
        labels = batch["labels"]
        tckd, nckd = dkd_terms(student_logits, teacher_logits, labels, self.temperature)
        ramp = 1.0 if self.warmup_steps <= 0 else min(1.0, (int(self.steps_done) + 1) / self.warmup_steps)
        if self.training:
            self.steps_done += 1
        terms = logit_terms(student_logits, teacher_logits, labels, self.ce_weight, self.kd_weight, self.temperature)
        terms["dkd"] = (self.feature_weight * ramp, self.alpha * tckd + self.beta * nckd)
        return weighted_step(student_logits, terms, {"tckd": tckd, "nckd": nckd})


@register_method("dkd", search_space={"temperature": ("log", 1.0, 8.0), "beta": ("log", 1.0, 16.0)})
def dkd(
    teacher: Teacher | None = None,
    alpha: Weight = 1.0,
    beta: Weight = 2.0,
    temperature: Temperature = 4.0,
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 1.0,
    warmup_steps: NonNegativeInt = 0,
) -> DKDStrategy:
    """Decoupled KD (Zhao et al. 2022): α·TCKD + β·NCKD on logits, optional linear warm-up of its weight."""
    if teacher is None:
        raise ConfigError("method 'dkd' needs a teacher")
    if warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
    return DKDStrategy(teacher, alpha, beta, temperature, ce_weight, kd_weight, feature_weight, warmup_steps)
