"""Class-specialised distillation (Wang et al. 2022): a student for a subset S of the teacher's classes.

The teacher's logits are restricted to S (in the order given) by :class:`~kdistill.teachers.ClassSubsetTeacher`, so
the soft targets are renormalised over the subset at temperature T:

    p_k = exp(z_k/T) / Σ_{j∈S} exp(z_j/T),  k ∈ S          (they sum to 1 over S)

The student has ``len(classes)`` outputs; a label y ∈ S is mapped to its position in ``classes`` for the CE term.
Feed it only examples of the subset (``kdistill.procedures.specialist`` filters the data): a label outside S raises.

    loss = ce_weight · CE(position(y), σ(z_s)) + kd_weight · T² · KL(p ‖ σ(z_s/T))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdistill.arguments import Temperature, Weight
from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError, ShapeError
from kdistill.losses import hard_label_cross_entropy, kd_kl_divergence, softmax_with_temperature
from kdistill.strategies.spec import register_method
from kdistill.teachers import ClassSubsetTeacher, Teacher


def subset_positions(labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Map class ids (B,) to their positions in ``classes`` (S,); a ShapeError if any label is outside the subset."""
    matches = labels.unsqueeze(-1) == classes  # (B, S)
    if not bool(matches.any(-1).all()):
        outside = sorted(set(labels[~matches.any(-1)].tolist()))
        raise ShapeError(f"labels {outside} are not in the specialist's classes {classes.tolist()}; restrict the "
                         "data to those classes (kdistill.procedures.specialist.restrict_to_classes)")
    return matches.long().argmax(-1)


def specialist_targets(teacher_logits: torch.Tensor, classes: Sequence[int], temperature: float) -> torch.Tensor:
    """Soft targets (B, S) renormalised over ``classes`` at T, from full teacher logits (B, C)."""
    index = torch.as_tensor(list(classes), dtype=torch.long, device=teacher_logits.device)
    return softmax_with_temperature(teacher_logits.float().index_select(-1, index), temperature)


class SpecialistStrategy(nn.Module):
    """Hinton KD against a class-subset teacher, with labels mapped into subset positions."""

    def __init__(self, teacher: Teacher, temperature: float, ce_weight: float, kd_weight: float):
        super().__init__()
        self.teacher = teacher  # a ClassSubsetTeacher, or the full teacher when the subset is every class
        self.temperature, self.ce_weight, self.kd_weight = temperature, ce_weight, kd_weight

    def soft_targets(self, batch: Batch) -> torch.Tensor:
        """The renormalised teacher distribution over the subset, (B, S); rows sum to 1."""
        return softmax_with_temperature(self.teacher(batch).float(), self.temperature)

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        teacher_logits = self.teacher(batch)  # (B, S)
        student_logits = forward_model(student, batch)  # (B, S)
        if student_logits.shape[-1] != teacher_logits.shape[-1]:
            raise ShapeError(f"the specialist student has {student_logits.shape[-1]} outputs but the subset has "
                             f"{teacher_logits.shape[-1]} classes; build the student with len(classes) outputs")
        kd = kd_kl_divergence(student_logits, teacher_logits, self.temperature)
        labels = batch.get("labels")
        step = {"output": student_logits, "kd": kd.detach()}
        loss = self.kd_weight * kd
        if labels is not None:
            classes = getattr(self.teacher, "classes", None)
            positions = labels if classes is None else subset_positions(labels, classes)
            ce = hard_label_cross_entropy(student_logits, positions)
            loss = loss + self.ce_weight * ce
            step["ce"] = ce.detach()
        elif self.ce_weight:
            raise ConfigError("ce_weight > 0 needs labelled batches; set ce_weight: 0 for an unlabelled transfer set")
        return {"loss": loss, **step}


@register_method("specialist",
                 search_space={"temperature": ("log", 1.0, 20.0), "ce_weight": ("uniform", 0.0, 1.0)})
def specialist(
    teacher: Teacher | None = None,
    classes: list[int] | None = None,
    temperature: Temperature = 4.0,
    ce_weight: Weight = 0.1,
    kd_weight: Weight = 0.9,
) -> SpecialistStrategy:
    """Class-specialised KD: teacher logits restricted to `classes`, renormalised at T (None = all classes)."""
    if teacher is None:
        raise ConfigError("method 'specialist' needs a teacher")
    if isinstance(teacher, ClassSubsetTeacher):
        raise ConfigError("pass the full teacher; 'specialist' restricts it to `classes` itself")
    if classes is None:  # every class: plain Hinton KD, kept so the method is usable without a subset
        return SpecialistStrategy(teacher, temperature, ce_weight, kd_weight)
    try:
        subset_teacher = ClassSubsetTeacher(teacher, classes)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return SpecialistStrategy(subset_teacher, temperature, ce_weight, kd_weight)
