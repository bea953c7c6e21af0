"""Shared reduction for per-position losses.

Distillation losses produce one value per prediction. For classification that is one per sample, ``(B,)``; for
sequence models one per token, ``(B, T)``, where padding must not count. ``masked_mean`` averages over the valid
positions so both cases use the same loss code ("batch-mean" reduction = mean over valid positions).
"""

from __future__ import annotations

import torch

from kdistill.errors import ShapeError


def check_same_shape(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    """Teacher and student must predict over the same classes at the same positions."""
    if student_logits.shape != teacher_logits.shape:
        if student_logits.shape[:-1] == teacher_logits.shape[:-1]:
            raise ShapeError(
                f"teacher predicts {teacher_logits.shape[-1]} classes but the student predicts "
                f"{student_logits.shape[-1]}; build the student with num_classes={teacher_logits.shape[-1]} "
                "or restrict the teacher to the student's classes (ClassSubsetTeacher)"
            )
        raise ShapeError(
            f"teacher logits {tuple(teacher_logits.shape)} and student logits {tuple(student_logits.shape)} differ; "
            "both must be (batch, classes) or (batch, time, vocab) for the same batch"
        )


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` (any shape) over positions where ``mask`` is True; plain mean when mask is None."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)
