"""A reproducible in-memory batch iterator that yields contract batches (see ``kdistill.batch``).

Every random choice of an epoch (order and jitter offsets) comes from one ``torch.Generator`` seeded by
(seed, epoch), so epoch ``e`` is identical whether training ran straight through or resumed at ``e``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch

from kdistill.batch import Batch
from kdistill.data.jitter import sample_shifts, shift_images
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for (seed, epoch); hashing keeps distinct pairs apart (unlike e.g. seed * K + epoch)."""
    digest = hashlib.sha256(f"kdistill-loader:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# xor-ed into an epoch's seed for its warps: a stream apart from the order and offsets (any fixed 63-bit constant)
WARP_STREAM = 0x5A17_3C0F_9E2B_4D61


def rank_order(count: int, shuffle: bool, generator: torch.Generator, rank: int, world_size: int) -> torch.Tensor:
    """This rank's sample ids for one epoch: a permutation from ``generator`` (or 0..N-1), cut to a multiple of
    ``world_size`` so every rank gets as many (DDP would hang otherwise), rank ``r`` taking every ``world_size``-th
    from position ``r``. Shared by ArrayLoader and the data sources' sampler, so both order an epoch alike."""
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    return order[: count // world_size * world_size][rank::world_size]


class ArrayLoader:
    """Iterate over (images (N, C, H, W) float32, labels (N,)) in batches of ``{"inputs", "labels", "index",
    "shift"}``.

    - ``index`` (B,) int64: sample ids into ``images``; ``shift`` (B, 2) int64: the (dy, dx) jitter applied to each
      input (zeros when ``max_shift == 0``), so a cached teacher can look up that exact view.
    - ``warp``: each epoch warps every sample by its own random warp (kdistill.data.warp) before the jitter; the warps
      come from their own (seed, epoch) generator, so order and offsets are those of the same loader without a warp.
    - ``set_epoch(e)`` selects the epoch, like ``DistributedSampler``; call it before each epoch.
    - ``rank``/``world_size``: each rank takes every ``world_size``-th index of the epoch's permutation. The
      permutation is first cut to a multiple of ``world_size`` so all ranks see the same number of batches (DDP would
      hang otherwise); with shuffling, which few samples are left out changes every epoch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        max_shift: int = 0,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        warp: WarpOptions | None = None,
    ):
        if images.ndim != 4 or len(images) != len(labels):
            raise ConfigError(f"ArrayLoader needs images (N, C, H, W) and labels (N,); got {tuple(images.shape)} "
                              f"and {tuple(labels.shape)}")
        if batch_size < 1 or max_shift < 0:
            raise ConfigError(f"batch_size must be >= 1 and max_shift >= 0; got {batch_size} and {max_shift}")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank must be in [0, world_size); got rank {rank}, world_size {world_size}")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.max_shift = max_shift
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch_warp = warp if warp is not None and warp.active else None
        self.epoch = 0
        self._epoch_warps = None  # the current epoch's Warps (N rows) while iterating with a warp

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _samples_per_rank(self) -> int:
        return len(self.labels) // self.world_size

    def __len__(self) -> int:
        samples = self._samples_per_rank()
        return samples // self.batch_size if self.drop_last else -(-samples // self.batch_size)

    def epoch_plan(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(this rank's sample ids in order (M,), offsets for every sample (N, 2)) for the current epoch."""
        count = len(self.labels)
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        order = rank_order(count, self.shuffle, generator, self.rank, self.world_size)
        # Offsets are drawn for all N samples, indexed by sample id: a sample's view in an epoch does not depend on
        # the batch size, rank or world size.
        shifts = sample_shifts(count, self.max_shift, generator)
        return order, shifts

    def __iter__(self) -> Iterator[Batch]:
        order, shifts = self.epoch_plan()
        if self.epoch_warp is not None:
            from kdistill.data.warp import sample_warps  # torch-heavy grid code, only when warping

            generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch) ^ WARP_STREAM)
            self._epoch_warps = sample_warps(len(self.labels), self.epoch_warp, generator)  # (N rows): one per sample id
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]  # (B,)
            shift = shifts[index]  # (B, 2)
            yield {"inputs": self.view_inputs(index, shift), "labels": self.labels[index], "index": index,
                   "shift": shift}

    def view_inputs(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """The (B, C, H, W) inputs of samples ``index`` (B,) as this epoch shows them (jittered by ``shift``)."""
        inputs = self.images[index]
        if self._epoch_warps is not None:
            from kdistill.data.warp import warp_images

            inputs = warp_images(inputs, self._epoch_warps.select(index))
        return shift_images(inputs, shift) if self.max_shift > 0 else inputs
