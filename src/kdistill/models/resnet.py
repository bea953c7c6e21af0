"""CIFAR-style ResNets (He et al. 2016, section 4.2) as used in the CRD/RepDistiller KD benchmarks, for 28x28 inputs.

Stem 3x3 conv -> BN -> ReLU, then three stages ``layer1`` / ``layer2`` / ``layer3`` of n basic blocks each
(stride 1, 2, 2), global average pool, linear head. Depth = 6n + 2. On a (B, 1, 28, 28) input the stage outputs are
(B, w1, 28, 28), (B, w2, 14, 14), (B, w3, 7, 7) (CIFAR: 32, 16, 8).

Widths follow RepDistiller: resnet20/56 use [16, 16, 32, 64] (stem, stages); the "x4" nets [32, 64, 128, 256]. Like
RepDistiller, resnet8x4 and resnet32x4 have three stages (the fourth width is the stem's four-times-wider successor,
not a fourth stage). Stage outputs are named ``layer1..3`` so recipes and ``FEATURE_LAYERS`` can name them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.models.registry import MODELS


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(inputs)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(inputs))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) with widths ``(stem, stage1, stage2, stage3)``."""

    FEATURE_LAYERS = ("layer1", "layer2", "layer3")

    def __init__(self, in_channels: int, num_classes: int, blocks_per_stage: int, widths: tuple[int, int, int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._stage(widths[0], widths[1], blocks_per_stage, stride=1)
        self.layer2 = self._stage(widths[1], widths[2], blocks_per_stage, stride=2)
        self.layer3 = self._stage(widths[2], widths[3], blocks_per_stage, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_channels, out_channels, stride)]
        layers += [BasicBlock(out_channels, out_channels, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        out = F.relu(self.bn1(self.conv1(images)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(self.pool(out), 1))


def _build(input_shape: tuple[int, ...], num_classes: int, depth: int, widths: tuple[int, int, int, int]):
    if len(input_shape) != 3:
        raise ValueError(f"CIFAR-style ResNets need image inputs (C, H, W), got input_shape {input_shape}")
    return CifarResNet(input_shape[0], num_classes, (depth - 2) // 6, widths)


@MODELS.register("resnet20")
def resnet20(input_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
    """CIFAR ResNet-20 (0.27M params): 3 stages x 3 basic blocks, widths 16/32/64."""
    return _build(input_shape, num_classes, 20, (16, 16, 32, 64))


@MODELS.register("resnet56")
def resnet56(input_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
    """CIFAR ResNet-56 (0.86M params): 3 stages x 9 basic blocks, widths 16/32/64."""
    return _build(input_shape, num_classes, 56, (16, 16, 32, 64))


@MODELS.register("resnet8x4")
def resnet8x4(input_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
    """CIFAR ResNet-8x4 (1.2M params): 3 stages x 1 basic block, widths 64/128/256 (RepDistiller)."""
    return _build(input_shape, num_classes, 8, (32, 64, 128, 256))


@MODELS.register("resnet32x4")
def resnet32x4(input_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
    """CIFAR ResNet-32x4 (7.4M params): 3 stages x 5 basic blocks, widths 64/128/256 (RepDistiller)."""
    return _build(input_shape, num_classes, 32, (32, 64, 128, 256))
