"""Several trained networks answering as one: the mean of their tempered probabilities (Hinton et al. 2015, s. 4).

``AveragedEnsemble(members, temperature=T)`` returns ``T · log Σ_i softmax(z_i / T) / N`` as its logits, so that
``softmax(logits / T)`` is exactly the members' mean tempered distribution: a distillation loss at temperature T sees
the averaged distribution, and at T = 1 the module is the ensemble's prediction (accuracy, NLL, calibration). The
temperature is a buffer, so it is part of the state: a teacher cache built at one temperature is never served at
another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


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

    def at_temperature(self, temperature: float) -> "AveragedEnsemble":
        """The same members (shared, not copied) averaged at another temperature."""
        return AveragedEnsemble(list(self.members), temperature)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, C)
        temperature = self.temperature
        log_probs = torch.stack([torch.log_softmax(member(inputs).float() / temperature, dim=-1)
                                 for member in self.members])  # (N, B, C)
        # log of the mean probability as a logsumexp: stable when members are very confident
        return temperature * (torch.logsumexp(log_probs, dim=0) - math.log(len(self.members)))
