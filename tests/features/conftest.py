"""Tiny shared fixtures for the feature-distillation tests: small images, a 10-class batch, one thread."""

import pytest
import torch

torch.set_num_threads(1)

INPUT_SHAPE = (1, 12, 12)  # must match the test files


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randn(8, *INPUT_SHAPE, generator=generator),
        "labels": torch.arange(8) % 10,
        "index": torch.arange(8),
    }
