"""Tiny data and a tiny teacher for cache tests (digits, 8x8: bundled, no download)."""

import pytest
import torch

from kdistill.models import build_model


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def images_labels():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(70, 1, 8, 8, generator=generator)  # (N, C, H, W)
    labels = torch.randint(0, 10, (70,), generator=generator)
    return images, labels


@pytest.fixture
def teacher_net():
    torch.manual_seed(0)
    return build_model("cnn", (1, 8, 8), 10, channels=[4, 8], hidden=16)
