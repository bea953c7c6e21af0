"""Decoding one image into a float32 (C, H, W) tensor: colour mode, resize, mean/std normalisation.

Shared by the image-folder and hf-datasets sources. Pillow is an optional dependency (``kdistill[images]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kdistill.errors import ConfigError, DataError

COLORS = ("auto", "grayscale", "rgb")
# Pillow modes that hold one intensity channel (plus alpha for LA/La): "auto" decodes them as grayscale.
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(kw_only=True)
class ImageOptions:
    """How images are decoded: ``resize: [H, W]`` (bilinear; unset keeps the files' size, which must then agree),
    ``color`` (auto: grayscale files -> 1 channel, others -> 3), and per-channel ``mean``/``std`` applied to pixels
    scaled to [0, 1] (one value each, or one per channel)."""

    resize: list[int] | None = None
    color: str = "auto"
    mean: list[float] | None = None
    std: list[float] | None = None

    def __post_init__(self) -> None:
        if self.resize is not None and (len(self.resize) != 2 or min(self.resize) < 1):
            raise ConfigError(f"resize must be [height, width] with positive sizes; got {self.resize}")
        if self.color not in COLORS:
            raise ConfigError(f"color must be one of {', '.join(COLORS)}; got '{self.color}'")
        if (self.mean is None) != (self.std is None):
            raise ConfigError("set both mean and std (per-channel normalisation) or neither")
        if self.std is not None and min(self.std) <= 0:
            raise ConfigError(f"std values must be positive; got {self.std}")


def require_pillow() -> Any:
    """The ``PIL.Image`` module, or a one-line DataError with the install command."""
    try:
        from PIL import Image
    except ImportError as error:
        raise DataError("image sources need Pillow; install it with `pip install 'kdistill[images]'`") from error
    return Image


def pil_mode(color: str, file_mode: str) -> str:
    """The Pillow mode every image is converted to: "L" (1 channel) or "RGB" (3)."""
    if color == "auto":
        return "L" if file_mode in GRAYSCALE_MODES else "RGB"
    return "L" if color == "grayscale" else "RGB"


class ImageDecoder:
    """PIL image -> float32 (C, H, W); picklable, so DataLoader workers each get a copy."""

    def __init__(self, mode: str, options: ImageOptions):
        self.mode = mode
        self.size = None if options.resize is None else (int(options.resize[0]), int(options.resize[1]))  # (H, W)
        channels = 1 if mode == "L" else 3
        self.mean = self.std = None
        if options.mean is not None and options.std is not None:
            for name, values in (("mean", options.mean), ("std", options.std)):
                if len(values) not in (1, channels):
                    raise ConfigError(f"{name} needs 1 or {channels} values for {channels}-channel images; "
                                      f"got {len(values)}")
            self.mean = torch.tensor(options.mean, dtype=torch.float32).view(-1, 1, 1)  # (C or 1, 1, 1)
            self.std = torch.tensor(options.std, dtype=torch.float32).view(-1, 1, 1)

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def __call__(self, image: Any) -> torch.Tensor:
        image = image.convert(self.mode)
        if self.size is not None and image.size != (self.size[1], self.size[0]):  # PIL sizes are (W, H)
            image = image.resize((self.size[1], self.size[0]), resample=require_pillow().BILINEAR)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())  # (H, W) or (H, W, 3) uint8
        pixels = pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)  # (C, H, W)
        tensor = pixels.float().div_(255.0)
        if self.mean is not None and self.std is not None:
            tensor = (tensor - self.mean) / self.std
        return tensor
