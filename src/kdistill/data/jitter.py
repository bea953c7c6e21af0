"""Input jitter: translate each image by a small integer offset with zero fill.

Hinton et al. (2015, "Distilling the Knowledge in a Neural Network") train the MNIST nets on inputs jittered by up
to two pixels. The offsets are sampled per view and returned, so a cached teacher can reproduce that exact view.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_shifts(n: int, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 2) int64 offsets (dy, dx), each uniform over the integers in [-max_shift, max_shift]."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0; got {max_shift}")
    return torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator, dtype=torch.int64)


def shift_images(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Translate images (N, C, H, W) by shifts (N, 2) = (dy, dx) pixels with zero fill -> (N, C, H, W).

    Positive dy moves content down, positive dx right: ``out[n, :, y, x] = images[n, :, y - dy, x - dx]``, or 0 where
    that source pixel is outside the image.
    """
    if shifts.shape != (images.shape[0], 2):
        raise ValueError(f"shifts must be ({images.shape[0]}, 2); got {tuple(shifts.shape)}")
    count, channels, height, width = images.shape
    if count == 0 or not bool(shifts.any()):
        return images.clone()
    shifts = shifts.to(device=images.device, dtype=torch.long)
    pad = int(shifts.abs().max())
    # Zero-pad by the largest shift, then read one H x W window per image at offset (pad - dy, pad - dx).
    padded = F.pad(images, (pad, pad, pad, pad))  # (N, C, H + 2p, W + 2p)
    rows = (pad - shifts[:, 0]).view(count, 1, 1) + torch.arange(height, device=images.device).view(1, height, 1)
    cols = (pad - shifts[:, 1]).view(count, 1, 1) + torch.arange(width, device=images.device).view(1, 1, width)
    flat_index = (rows * (width + 2 * pad) + cols).view(count, 1, height * width).expand(count, channels, -1)
    windows = padded.flatten(2).gather(2, flat_index)  # (N, C, H * W)
    return windows.view(count, channels, height, width)
