"""Per-epoch seeding: every epoch's randomness (shuffle order, jitter, dropout) derives from (seed, epoch) alone.

That is what makes ``--resume`` exact: an epoch replayed from the previous epoch's checkpoint sees the same random
numbers as it did in the uninterrupted run, without having to save and restore RNG states.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**31 - 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_epoch(loader: object, seed: int, epoch: int) -> None:
    """Seed the global RNGs and tell the loader (if it cares) which epoch this is."""
    seed_everything(epoch_seed(seed, epoch))
    set_epoch = getattr(loader, "set_epoch", None) or getattr(getattr(loader, "sampler", None), "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)
