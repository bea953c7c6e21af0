"""Small smooth warps of images: random rotation, scale and shear plus a coarse elastic displacement field.

Fully connected nets on MNIST gain most from distortions of this kind (Simard et al. 2003: a 784-800-10 MLP goes from
1.6% to 1.1% test error with affine and to 0.7% with elastic distortions), far more than from integer jitter alone.
The teacher cache stores its teacher's outputs on warped views, so the warp of sample ``i`` in view ``v`` must be a
pure function of (seed, view, i): :func:`sample_warps` draws the parameters of all N samples of one view from one
generator, and :func:`warp_images` applies the rows a batch needs.

The elastic field is drawn on a ``elastic_grid`` x ``elastic_grid`` lattice (normal, std ``elastic`` pixels per
axis) and upsampled bicubically, a cheap stand-in for Simard's Gaussian-smoothed dense field.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from kdistill.data.warp_options import WarpOptions


class Warps(NamedTuple):
    """Per-sample warp parameters: ``theta`` (N, 2, 3) affine maps (output -> input, normalised coordinates) and
    ``field`` (N, 2, g, g) coarse (dx, dy) displacements in pixels."""

    theta: torch.Tensor
    field: torch.Tensor

    def select(self, index: torch.Tensor) -> Warps:
        return Warps(self.theta[index], self.field[index])


def sample_warps(n: int, options: WarpOptions, generator: torch.Generator) -> Warps:
    """Parameters of ``n`` independent warps, drawn in a fixed order from ``generator``."""
    def uniform(limit: float) -> torch.Tensor:  # (n,) in [-limit, limit]
        return (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * limit

    angle = uniform(math.radians(options.rotation))
    scale = 1 + uniform(options.scale)
    shear = torch.tan(uniform(math.radians(options.shear)))
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotation @ shear_x, divided by the scale: the map from output to input coordinates
    linear = torch.stack([torch.stack([cos, cos * shear - sin], -1),
                          torch.stack([sin, sin * shear + cos], -1)], -2) / scale.view(n, 1, 1)  # (n, 2, 2)
    theta = torch.cat([linear, torch.zeros(n, 2, 1, dtype=torch.float64)], dim=2).float()  # (n, 2, 3)
    grid = options.elastic_grid
    field = torch.randn(n, 2, grid, grid, generator=generator) * options.elastic  # (n, 2, g, g) pixels
    return Warps(theta, field)


def warp_images(images: torch.Tensor, warps: Warps) -> torch.Tensor:
    """Warp images (B, C, H, W) by ``warps`` (B rows) with bilinear sampling and zero fill -> (B, C, H, W)."""
    count, _, height, width = images.shape
    if warps.theta.shape[0] != count:
        raise ValueError(f"warps must have {count} rows; got {warps.theta.shape[0]}")
    grid = F.affine_grid(warps.theta.to(images.dtype), list(images.shape), align_corners=False)  # (B, H, W, 2)
    field = F.interpolate(warps.field.to(images.dtype), size=(height, width), mode="bicubic", align_corners=True)
    # pixels -> normalised units (the grid spans 2 over W columns and H rows); (B, 2, H, W) -> (B, H, W, 2)
    scale = torch.tensor([2 / width, 2 / height], dtype=images.dtype).view(1, 2, 1, 1)
    grid = grid + (field * scale).permute(0, 2, 3, 1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
