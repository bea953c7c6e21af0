"""A ``DataLoader`` over a source dataset: seeded per-epoch order, cached-view selection, rank sharding, workers.

    loader = source_loader(source.open("train"), batch_size=128, seed=0, augment=AugmentOptions(flip=True),
                           views=4, num_workers=2)
    for epoch in range(1, epochs + 1):
        loader.set_epoch(epoch)              # order from (seed, epoch); view (epoch - 1) mod 4
        for batch in loader: ...             # {"inputs", "labels", "index", "view", "crop", "flip", "jitter"}

The sampler (in the main process) hands every worker ``(index, view)`` keys, so workers hold no epoch state and
persistent workers stay correct. The order of epoch ``e`` is the one :class:`kdistill.data.ArrayLoader` uses for the
same (seed, e), so switching a run from in-memory arrays to a source does not change which samples meet in a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.dataloader import default_collate

from kdistill.batch import Batch
from kdistill.data.loader import epoch_seed, rank_order
from kdistill.errors import ConfigError, KdistillError
from kdistill.sources.augment import AugmentedDataset, AugmentOptions
from kdistill.sources.base import Sample, SourceDataset
from kdistill.sources.mix import mix_batch
from kdistill.text.padding import trim_padding


class EpochSampler(Sampler):
    """Yields this rank's ``(index, view)`` keys for the current epoch (1-based, as the training loop counts).

    - order: a permutation seeded by (seed, epoch) (``shuffle``) or 0..N-1, cut to a multiple of ``world_size`` so
      every rank gets the same number of samples; rank ``r`` takes every ``world_size``-th from position ``r``;
    - view: ``(epoch - 1) mod views``, or ``epoch - 1`` when ``views`` is None (a fresh augmentation every epoch).
    """

    def __init__(self, num_samples: int, shuffle: bool = True, seed: int = 0, views: int | None = None,
                 rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank must be in [0, world_size); got rank {rank}, world_size {world_size}")
        if views is not None and views < 1:
            raise ConfigError(f"views must be >= 1 (or unset for a fresh view every epoch); got {views}")
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.views = views
        self.rank = rank
        self.world_size = world_size
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def view(self) -> int:
        return self.epoch - 1 if self.views is None else (self.epoch - 1) % self.views

    def order(self) -> torch.Tensor:
        """This rank's sample ids for the current epoch, (len(self),) int64."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return rank_order(self.num_samples, self.shuffle, generator, self.rank, self.world_size)

    def __len__(self) -> int:
        return self.num_samples // self.world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        view = self.view
        for index in self.order().tolist():
            yield index, view


class SourceCollate:
    """Stack samples into a batch dict (``default_collate``), then mix the batch if ``options.mix`` asks to."""

    def __init__(self, options: AugmentOptions | None, seed: int):
        self.options = options
        self.seed = seed

    def __call__(self, samples: list[Sample]) -> Batch:
        batch = default_collate(samples)  # index (B,) int64, labels (B,), inputs (B, ...) or a dict of them
        batch["inputs"] = trim_padding(batch["inputs"])  # text: cut to the batch's longest sentence
        if self.options is not None and self.options.mix != "none":
            batch = mix_batch(batch, self.options, self.seed)
        return batch


def worker_error_line(message: str, error_type: type) -> str:
    """The original one-line message of an error re-raised from a DataLoader worker (torch adds the traceback)."""
    marker = f"{error_type.__module__}.{error_type.__qualname__}: "
    for line in reversed(message.splitlines()):
        if line.startswith(marker):
            return line[len(marker) :]
    return message


class SourceLoader(DataLoader):
    """A DataLoader with ``set_epoch`` (forwarded to its :class:`EpochSampler`) whose kdistill errors stay one line,
    also when raised inside a worker process."""

    sampler: EpochSampler

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:  # type: ignore[override]
        iterator = super().__iter__()
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except Exception as error:
                # Stop the workers now: left to garbage collection after a worker error, torch waits ~5 s for them.
                shutdown = getattr(iterator, "_shutdown_workers", None)
                if callable(shutdown):
                    shutdown()
                if not isinstance(error, KdistillError) or "\n" not in str(error):
                    raise
                raise type(error)(worker_error_line(str(error), type(error))) from error
            yield batch


def source_loader(
    dataset: SourceDataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    augment: AugmentOptions | None = None,
    augment_seed: int | None = None,
    views: int | None = None,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    **dataloader_kwargs: Any,
) -> SourceLoader:
    """A :class:`SourceLoader` over ``dataset`` yielding ``{"inputs", "labels", "index", "view", ...}`` batches.

    ``seed`` drives the order; ``augment_seed`` (default ``seed``) the augmentation, so a student can reuse a
    teacher cache built with another seed. ``views``: how many fixed views to cycle (the cache's V); None gives a
    fresh view every epoch. Other keyword arguments (e.g. ``prefetch_factor``) go to ``DataLoader``.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    seed_of_views = seed if augment_seed is None else augment_seed
    sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=seed, views=views, rank=rank, world_size=world_size)
    return SourceLoader(
        AugmentedDataset(dataset, augment, seed_of_views),
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=SourceCollate(augment, seed_of_views),
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        **dataloader_kwargs,
    )
