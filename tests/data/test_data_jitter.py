import pytest
import torch

from kdistill.data.jitter import sample_shifts, shift_images


def naive_shift(images, shifts):
    """Reference: one image at a time, copy the overlapping rectangle (dy, dx) pixels down/right."""
    out = torch.zeros_like(images)
    height, width = images.shape[-2:]
    for n, (dy, dx) in enumerate(shifts.tolist()):
        for y in range(height):
            for x in range(width):
                if 0 <= y - dy < height and 0 <= x - dx < width:
                    out[n, :, y, x] = images[n, :, y - dy, x - dx]
    return out


@pytest.mark.parametrize("max_shift", [1, 2, 3])
def test_shift_images_matches_naive_loop(max_shift):
    generator = torch.Generator().manual_seed(max_shift)
    images = torch.rand(40, 2, 7, 9, generator=generator)
    shifts = sample_shifts(40, max_shift, generator)
    # Make sure the extremes are covered, not just sampled by chance.
    shifts[:4] = torch.tensor([[max_shift, max_shift], [-max_shift, -max_shift], [max_shift, -max_shift], [0, 0]])
    torch.testing.assert_close(shift_images(images, shifts), naive_shift(images, shifts), rtol=0, atol=0)


def test_zero_shift_is_identity():
    images = torch.rand(5, 1, 6, 6)
    out = shift_images(images, torch.zeros(5, 2, dtype=torch.long))
    assert torch.equal(out, images) and out.data_ptr() != images.data_ptr()


def test_shift_larger_than_image_gives_zeros():
    images = torch.rand(2, 1, 3, 3)
    assert torch.equal(shift_images(images, torch.tensor([[3, 0], [0, -5]])), torch.zeros_like(images))


def test_sample_shifts_range_and_determinism():
    shifts = sample_shifts(10_000, 2, torch.Generator().manual_seed(0))
    assert shifts.shape == (10_000, 2) and shifts.dtype == torch.int64
    assert set(shifts.unique().tolist()) == {-2, -1, 0, 1, 2}
    assert torch.equal(shifts, sample_shifts(10_000, 2, torch.Generator().manual_seed(0)))
    assert not sample_shifts(100, 0).any()
