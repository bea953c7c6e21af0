"""A small convolutional net for 28x28 (or 8x8) images: a cheap student or a stronger-than-MLP teacher."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdistill.arguments import Fraction, PositiveInt
from kdistill.models.registry import MODELS


class SmallCNN(nn.Module):
    """(Conv3x3 -> BN -> ReLU -> MaxPool2) per entry of ``channels``, then an average pool to ``pooled_size`` squared
    positions -> flatten -> MLP head.

    ``pooled_size=1`` (global average) makes the head blind to where a feature is: cheap and translation-invariant,
    but two 3x3 stages see only ~10 px, so digits that differ by the layout of their strokes get confused (a
    [32, 64] net: 93.8% / 97.4% MNIST test accuracy in benchmarks/results/teacher_cache.md / deploy.md, short
    schedules). ``pooled_size=7`` on 28x28 inputs keeps every position of the last map
    (the classic conv-conv-fully-connected MNIST net).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.0,
        pooled_size: int = 1,
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        for size in channels:
            blocks += [
                nn.Conv2d(width, size, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(size),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            width = size
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(pooled_size),
            nn.Flatten(),
            nn.Linear(width * pooled_size**2, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.head(self.features(images))


@MODELS.register("cnn")
def cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    channels: Sequence[PositiveInt] = (32, 64),
    hidden: PositiveInt = 128,
    dropout: Fraction = 0.0,
    pooled_size: PositiveInt = 1,
) -> SmallCNN:
    """Small CNN: conv-BN-ReLU-pool stages, average pooling to pooled_size x pooled_size (1 = global), two-layer
    head."""
    if len(input_shape) != 3:
        raise ValueError(f"cnn needs image inputs (C, H, W), got input_shape {input_shape}")
    return SmallCNN(input_shape[0], num_classes, channels, hidden, dropout, pooled_size)
