"""An ensemble of teachers distilled into one student (Hinton et al. 2015, section 4: the speech ensemble).

Two ways to combine N members with weights w_i (normalised to sum to 1):

- ``"probs"``: the mean of tempered probabilities, p = Σ w_i softmax(z_i / T). The ensemble returns
  ``T · log p`` as its logits, so ``softmax(logits / T) == p`` exactly and any loss at temperature T sees the
  averaged distribution. (At another temperature it is only an approximation: use the same T in the loss.)
- ``"logits"``: the weighted mean of logits, Σ w_i z_i (geometric mean of the distributions at every T).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdistill.batch import Batch
from kdistill.models.ensemble import combine_member_logits
from kdistill.teachers.base import Teacher
from kdistill.teachers.frozen import as_teacher


class EnsembleTeacher(Teacher):
    """Averages several teachers' tempered probabilities or logits, with optional per-teacher weights.

    Members are :class:`Teacher` objects or plain models (each then wrapped in a :class:`FrozenTeacher`)."""

    def __init__(
        self,
        teachers: Sequence[Teacher | nn.Module],
        combine: str = "probs",
        temperature: float = 1.0,
        weights: Sequence[float] | None = None,
    ):
        super().__init__()
        if not teachers:
            raise ValueError("an ensemble needs at least one teacher")
        if combine not in ("probs", "logits"):
            raise ValueError(f"combine must be 'probs' or 'logits', got {combine!r}")
        weights = [1.0] * len(teachers) if weights is None else list(weights)
        if len(weights) != len(teachers) or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"need {len(teachers)} non-negative weights with a positive sum, got {weights}")
        self.members = torch.nn.ModuleList(as_teacher(teacher) for teacher in teachers)
        self.combine, self.temperature = combine, temperature
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32) / sum(weights), persistent=False)
        self.num_classes = self.members[0].num_classes

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        member_logits = torch.stack([member(batch).float() for member in self.members])  # (N, ..., C)
        return combine_member_logits(member_logits, self.temperature, self.weights, self.combine)

