"""Fully connected nets, as in Hinton et al. 2015's MNIST experiment (784-1200-1200-10 teacher, 784-800-800-10 student).

The teacher there was regularised with dropout (Srivastava et al. 2014: 20% on inputs, 50% on hidden units) and a
max-norm constraint on each unit's incoming weight vector. ``max_norm`` implements that constraint: the training loop
calls ``apply_weight_constraints()`` after every optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from kdistill.arguments import Fraction, Positive, PositiveInt
from kdistill.models.registry import MODELS


class MLP(nn.Module):
    """Flatten -> [dropout] -> (Linear -> ReLU -> dropout) x len(hidden) -> Linear."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (800, 800),
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        max_norm: float | None = None,
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        self.max_norm = max_norm

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, num_classes)
        return self.layers(inputs)

    @torch.no_grad()
    def apply_weight_constraints(self) -> None:
        """Rescale each hidden unit's incoming weights to L2 norm <= max_norm (no-op when max_norm is None)."""
        if self.max_norm is None:
            return
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                norms = layer.weight.norm(dim=1, keepdim=True)  # (out, 1): one norm per unit
                layer.weight.mul_(norms.clamp(max=self.max_norm) / norms.clamp_min(1e-12))


@MODELS.register("mlp")
def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: Sequence[PositiveInt] = (800, 800),
    dropout: Fraction = 0.0,
    input_dropout: Fraction = 0.0,
    max_norm: Positive | None = None,
) -> MLP:
    """Multi-layer perceptron on flattened inputs (hidden sizes, dropout, input dropout, max-norm)."""
    return MLP(math.prod(input_shape), num_classes, hidden, dropout, input_dropout, max_norm)
