"""Several trained networks answering as one: the mean of their tempered probabilities (Hinton et al. 2015, s. 4).

``AveragedEnsemble(members, temperature=T)`` returns ``T · log Σ_i softmax(z_i / T) / N`` as its logits, so that
``softmax(logits / T)`` is exactly the members' mean tempered distribution: a distillation loss at temperature T sees
the averaged distribution, and at T = 1 the module is the ensemble's prediction (accuracy, NLL, calibration). The
temperature is a buffer, so it is part of the state: a teacher cache built at one temperature is never served at
another.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def combine_member_logits(member_logits: torch.Tensor, temperature: float | torch.Tensor = 1.0,
                          weights: torch.Tensor | None = None, combine: str = "probs") -> torch.Tensor:
    """The one ensemble rule (used by :class:`AveragedEnsemble` and :class:`~kdistill.teachers.EnsembleTeacher`).

    ``member_logits`` (N, ..., C); ``weights`` (N,) summing to 1 (None = equal). ``"probs"``: T · log Σ w_i
    softmax(z_i / T), computed as a logsumexp (stable when some members are very confident), so softmax(out / T) is
    exactly the weighted mean tempered distribution. ``"logits"``: Σ w_i z_i.
    """
    count = member_logits.shape[0]
    if weights is None:
        weights = torch.full((count,), 1.0 / count, device=member_logits.device)
    weights = weights.view(-1, *([1] * (member_logits.dim() - 1)))
    if combine == "logits":
        return (weights * member_logits).sum(0)
    log_probs = torch.log_softmax(member_logits.float() / temperature, dim=-1) + torch.log(weights)
    return temperature * torch.logsumexp(log_probs, dim=0)


class AveragedEnsemble(nn.Module):
    """N networks with the same classes, combined by averaging their probabilities at ``temperature``."""

    def __init__(self, members: Sequence[nn.Module], temperature: float = 1.0):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.members = nn.ModuleList(members)
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def at_temperature(self, temperature: float) -> AveragedEnsemble:
        """The same members (shared, not copied) averaged at another temperature."""
        return AveragedEnsemble(list(self.members), temperature)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, C)
        member_logits = torch.stack([member(inputs).float() for member in self.members])  # (N, B, C)
        return combine_member_logits(member_logits, self.temperature)
