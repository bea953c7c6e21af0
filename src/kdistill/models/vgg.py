"""VGG nets with BatchNorm (Simonyan & Zisserman 2015) in the CIFAR form of RepDistiller, for 28x28 inputs.

Five conv blocks ``block0..block4`` (conv3x3-BN-ReLU per entry), 2x2 max-pools after blocks 0-2, global average pool,
linear head. As in RepDistiller's CIFAR VGGs, blocks 3 and 4 share one resolution (it pools before block 4 only for
64-pixel inputs); pools use ``ceil_mode``, so a 28x28 input goes 28 -> 14 -> 7 -> 4 -> 4 (CIFAR: 32 -> 16 -> 8 -> 4 -> 4):
block outputs are (B, 64, 28, 28), (B, 128, 14, 14), (B, 256, 7, 7), (B, 512, 4, 4), (B, 512, 4, 4). The geometry
matters for attention transfer: on a 2x2 map one AT term's gradient dwarfed the cross-entropy's at initialisation
(vgg13 -> vgg8), and the student collapsed.

The feature layers are blocks 1-4, the stages after the stem (block0 is one or two convs on the raw image, like a
ResNet's stem, which the ResNets here do not list either); with ``uniform`` matching, attention transfer then pairs
exactly RepDistiller's ``feat[1:-1]``, and FitNets' ``middle`` hint is block2 (RepDistiller's ``hint_layer = 2``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdistill.models.registry import MODELS

CONFIGS = {
    "vgg8": ((64,), (128,), (256,), (512,), (512,)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
}


class CifarVGG(nn.Module):
    """VGG-BN with five blocks; blocks are the stable feature layers."""

    FEATURE_LAYERS = ("block1", "block2", "block3", "block4")
    POOLED_BLOCKS = 3  # max-pool after blocks 0, 1, 2

    def __init__(self, in_channels: int, num_classes: int, config: Sequence[Sequence[int]]):
        super().__init__()
        width = in_channels
        for index, widths in enumerate(config):
            layers: list[nn.Module] = []
            for size in widths:
                layers += [nn.Conv2d(width, size, 3, padding=1, bias=False), nn.BatchNorm2d(size), nn.ReLU()]
                width = size
            self.add_module(f"block{index}", nn.Sequential(*layers))
        self.down = nn.MaxPool2d(2, ceil_mode=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        self.num_blocks = len(config)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        out = images
        for index in range(self.num_blocks):
            out = getattr(self, f"block{index}")(out)
            if index < self.POOLED_BLOCKS:
                out = self.down(out)
        return self.fc(torch.flatten(self.pool(out), 1))


def _build(input_shape: tuple[int, ...], num_classes: int, name: str) -> CifarVGG:
    if len(input_shape) != 3:
        raise ValueError(f"VGG nets need image inputs (C, H, W), got input_shape {input_shape}")
    return CifarVGG(input_shape[0], num_classes, CONFIGS[name])


@MODELS.register("vgg8")
def vgg8(input_shape: tuple[int, ...], num_classes: int) -> CifarVGG:
    """VGG-8 with BatchNorm (3.9M params): one conv per block, widths 64-128-256-512-512."""
    return _build(input_shape, num_classes, "vgg8")


@MODELS.register("vgg13")
def vgg13(input_shape: tuple[int, ...], num_classes: int) -> CifarVGG:
    """VGG-13 with BatchNorm (9.4M params): two convs per block, widths 64-128-256-512-512."""
    return _build(input_shape, num_classes, "vgg13")
