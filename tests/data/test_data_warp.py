import math

import pytest
import torch

from kdistill.data.warp import Warps, sample_warps, warp_images
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError


def identity(count: int, grid: int = 4) -> Warps:
    theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(count, 2, 3).clone()
    return Warps(theta, torch.zeros(count, 2, grid, grid))


def test_zero_options_are_inactive_and_their_warp_is_the_identity():
    images = torch.rand(5, 1, 12, 12)
    assert not WarpOptions().active
    warps = sample_warps(5, WarpOptions(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(warp_images(images, warps), images, atol=1e-5, rtol=0)


def test_uniform_elastic_field_is_an_exact_pixel_translation():
    """A constant field of (dx, dy) = (1, 0) pixels reads one pixel to the right: out[x] = in[x + 1]."""
    images = torch.rand(3, 2, 10, 10, dtype=torch.float64)
    warps = identity(3)
    warps.field[:, 0] = 1.0
    out = warp_images(images, warps)
    torch.testing.assert_close(out[..., :-1], images[..., 1:])
    assert not out[..., -1].any()  # zero fill past the edge


def test_quarter_turn_rotates_the_image():
    images = torch.rand(2, 1, 9, 9, dtype=torch.float64)
    warps = identity(2)
    angle = math.pi / 2
    warps.theta[:, :2, :2] = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    torch.testing.assert_close(warp_images(images, warps), torch.rot90(images, 1, dims=(2, 3)), atol=1e-6, rtol=0)


def test_sampled_warps_are_reproducible_bounded_and_change_images():
    options = WarpOptions(rotation=10, scale=0.1, shear=5, elastic=1.0)
    first = sample_warps(200, options, torch.Generator().manual_seed(3))
    again = sample_warps(200, options, torch.Generator().manual_seed(3))
    assert torch.equal(first.theta, again.theta) and torch.equal(first.field, again.field)
    # |det| of the linear part is 1 / scale^2 (rotation and shear keep area)
    det = torch.linalg.det(first.theta[:, :, :2].double())
    assert bool(((det >= 1 / 1.1**2 - 1e-5) & (det <= 1 / 0.9**2 + 1e-5)).all())
    images = torch.rand(200, 1, 12, 12)
    moved = (warp_images(images, first) - images).abs().flatten(1).amax(1)
    assert bool((moved > 0.01).all())
    assert first.select(torch.tensor([4, 7])).theta.shape == (2, 2, 3)


def test_bad_options_name_the_key():
    with pytest.raises(ConfigError, match="warp.rotation"):
        WarpOptions(rotation=-1)
    with pytest.raises(ConfigError, match="warp.scale"):
        WarpOptions(scale=1.5)
    with pytest.raises(ConfigError, match="elastic_grid"):
        WarpOptions(elastic_grid=1)
