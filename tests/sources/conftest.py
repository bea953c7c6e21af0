"""Real-format files for every source, written into tmp folders from real Fashion-MNIST images (cached locally)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST: (train images uint8 (60000, 28, 28), train labels (60000,), test images, test labels, names)."""
    from kdistill.data import load_dataset

    data = load_dataset("fashion-mnist")  # float32 = uint8 / 255, so * 255 and rounding gives the stored bytes back

    def as_uint8(images):
        return images.squeeze(1).mul(255).round().to(torch.uint8).numpy()

    return (as_uint8(data.train_images), data.train_labels.numpy(), as_uint8(data.test_images),
            data.test_labels.numpy(), list(data.class_names))
