"""Connectors: learnable projections from a student feature to the shape of the teacher feature it is matched with.

A connector belongs to the distillation method (a submodule of the strategy): it is trained with the student, saved
in the run's checkpoints through ``trainable_state``, counted as extra training parameters, and absent from the
exported student (which is the student module alone).

- vectors (B, Ds) -> (B, Dt): ``nn.Linear``;
- maps (B, Cs, Hs, Ws) -> (B, Ct, Ht, Wt): 1x1 conv + BN (FitNets' regressor, as RepDistiller's ``ConvReg`` without
  the ReLU), then average pooling (student larger) or bilinear resizing (student smaller) to the teacher's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.errors import ConfigError, ShapeError

CONNECTOR_MODES = ("auto", "always", "none")


class LinearConnector(nn.Module):
    """(B, Ds) -> (B, Dt)."""

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.proj = nn.Linear(student_dim, teacher_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features)


class ConvConnector(nn.Module):
    """(B, Cs, Hs, Ws) -> (B, Ct, Ht, Wt): 1x1 conv + BN, then resize to the teacher's spatial size."""

    def __init__(self, student_channels: int, teacher_channels: int, teacher_size: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(teacher_channels)
        self.teacher_size = tuple(teacher_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(features))
        return match_spatial(out, self.teacher_size)


def match_spatial(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize (B, C, H, W) maps to ``size``: average-pool down, bilinear up; unchanged when already that size."""
    size = tuple(size)
    if tuple(maps.shape[-2:]) == size:
        return maps
    if maps.shape[-2] >= size[0] and maps.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(maps, size)
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def build_connector(
    student_shape: Sequence[int], teacher_shape: Sequence[int], mode: str = "auto"
) -> nn.Module:
    """A connector from one feature shape (without batch) to another.

    ``mode``: ``auto`` (identity when the shapes already match), ``always`` (a learnable projection even then, as
    FitNets' regressor), ``none`` (identity; the shapes must match).
    """
    if mode not in CONNECTOR_MODES:
        raise ConfigError(f"connector must be one of {', '.join(CONNECTOR_MODES)}; got {mode!r}")
    student_shape, teacher_shape = tuple(student_shape), tuple(teacher_shape)
    if mode == "none" or (mode == "auto" and student_shape == teacher_shape):
        if student_shape != teacher_shape:
            raise ShapeError(f"student feature {student_shape} and teacher feature {teacher_shape} differ; "
                             "set connector: auto (or always) to learn a projection")
        return nn.Identity()
    if len(student_shape) == 1 and len(teacher_shape) == 1:
        return LinearConnector(student_shape[0], teacher_shape[0])
    if len(student_shape) == 3 and len(teacher_shape) == 3:
        return ConvConnector(student_shape[0], teacher_shape[0], teacher_shape[1:])
    raise ShapeError(f"no connector from a {student_shape} feature to a {teacher_shape} one; match vectors with "
                     "vectors (B, D) and maps with maps (B, C, H, W)")


def count_extra_parameters(strategy: nn.Module) -> int:
    """Trainable parameters a strategy adds to the student's (connectors, embedding heads); the teacher's are frozen."""
    return sum(parameter.numel() for parameter in strategy.parameters() if parameter.requires_grad)
