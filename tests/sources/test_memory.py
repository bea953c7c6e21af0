"""Streaming an image folder ten times larger must not need more memory: images are decoded per batch, not held."""

import gc
import os
import resource

import pytest
from PIL import Image

from kdistill.sources import open_source, source_loader

STATM = "/proc/self/statm"


def rss_bytes() -> int:
    with open(STATM) as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def write_folder(root, images, count):
    """``count`` PNGs of real images in two classes (the pixels repeat; the files are distinct)."""
    for number in range(count):
        folder = root / f"class{number % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[number % len(images)]).save(folder / f"{number:05d}.png", compress_level=1)
    return root


def peak_rss_growth(root) -> int:
    """Largest RSS increase over the start while opening the folder and streaming all of it in batches of 100.

    Images are decoded at 3x64x64 float32 (48 KB each), so holding every decoded image of the large folder (3,000)
    would add ~140 MB; streaming adds about one batch (~5 MB) whatever the folder's size.
    """
    gc.collect()
    start = peak = rss_bytes()
    source = open_source("image-folder", {"root": str(root), "resize": [64, 64], "color": "rgb",
                                          "test_fraction": 0.0})
    for batch in source_loader(source.open("train"), 100, seed=0, num_workers=0):
        assert batch["inputs"].shape[1:] == (3, 64, 64)
        peak = max(peak, rss_bytes())
    return peak - start


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(STATM), reason="reads the resident set size from /proc")
def test_peak_memory_is_flat_when_the_folder_is_ten_times_larger(tmp_path, fashion):
    images = fashion[0][:500]
    small = write_folder(tmp_path / "small", images, 300)
    large = write_folder(tmp_path / "large", images, 3000)
    peak_rss_growth(small)  # warm-up: one-time allocations (Pillow plugins, torch kernels) are not the data's
    small_growth, large_growth = peak_rss_growth(small), peak_rss_growth(large)
    assert large_growth < small_growth + 40 * 2**20, (small_growth, large_growth)
