"""Wide ResNets (Zagoruyko & Komodakis 2016), WRN-depth-k, as in the CRD/RepDistiller benchmarks, for 28x28 inputs.

Pre-activation blocks (BN-ReLU-conv3x3, twice) with widths 16 -> 16k, 32k, 64k over three stages ``layer1..3``
of n = (depth - 4) / 6 blocks (stride 1, 2, 2), then BN-ReLU, global average pool, linear head. On (B, 1, 28, 28)
the stage outputs are (B, 16k, 28, 28), (B, 32k, 14, 14), (B, 64k, 7, 7). Note: the pre-activation stage outputs
are *before* the final BN-ReLU (as in RepDistiller, whose features are taken there too).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.models.registry import MODELS


class WideBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut (1x1 conv on the activated input when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(inputs))
        out = self.conv2(F.relu(self.bn2(self.conv1(activated))))
        return out + (inputs if self.shortcut is None else self.shortcut(activated))


class WideResNet(nn.Module):
    """WRN-(6n+4)-k."""

    FEATURE_LAYERS = ("layer1", "layer2", "layer3")

    def __init__(self, in_channels: int, num_classes: int, depth: int, widen: int):
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.layer1 = self._stage(widths[0], widths[1], blocks, stride=1)
        self.layer2 = self._stage(widths[1], widths[2], blocks, stride=2)
        self.layer3 = self._stage(widths[2], widths[3], blocks, stride=2)
        self.bn = nn.BatchNorm2d(widths[3])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [WideBlock(in_channels, out_channels, stride)]
        layers += [WideBlock(out_channels, out_channels, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        out = self.layer3(self.layer2(self.layer1(self.conv1(images))))
        return self.fc(torch.flatten(self.pool(F.relu(self.bn(out))), 1))


def _build(input_shape: tuple[int, ...], num_classes: int, depth: int, widen: int) -> WideResNet:
    if len(input_shape) != 3:
        raise ValueError(f"wide ResNets need image inputs (C, H, W), got input_shape {input_shape}")
    return WideResNet(input_shape[0], num_classes, depth, widen)


@MODELS.register("wrn_16_2")
def wrn_16_2(input_shape: tuple[int, ...], num_classes: int) -> WideResNet:
    """Wide ResNet 16-2 (0.7M params): 3 stages x 2 pre-activation blocks, widths 32/64/128."""
    return _build(input_shape, num_classes, 16, 2)


@MODELS.register("wrn_40_2")
def wrn_40_2(input_shape: tuple[int, ...], num_classes: int) -> WideResNet:
    """Wide ResNet 40-2 (2.2M params): 3 stages x 6 pre-activation blocks, widths 32/64/128."""
    return _build(input_shape, num_classes, 40, 2)
