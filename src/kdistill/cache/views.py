"""Augmentation views the teacher cache stores, and the loader that trains the student on exactly those views.

View ``v`` of sample ``i`` is the image warped by ``view_warps(N, warp, seed, v)[i]`` (if the cache has a warp: a
small rotation, scale, shear and elastic distortion) and then shifted by ``view_shifts(N, max_shift, seed, v)[i]``:
both come from generators seeded by (seed, view) alone, so any process can reproduce them without reading the cache. Training epoch
``e`` (1-based, as the loop counts) uses view ``(e - 1) mod V``: with V views per sample, the student cycles through
V fixed augmentations instead of drawing fresh ones every epoch - that is the price of never recomputing the teacher.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch

from kdistill.batch import Batch
from kdistill.data.jitter import sample_shifts, shift_images
from kdistill.data.loader import ArrayLoader
from kdistill.data.warp import Warps, sample_warps, warp_images
from kdistill.data.warp_options import WarpOptions


def view_seed(seed: int, view: int, stream: str = "view") -> int:
    """A 63-bit seed for (seed, view); ``stream`` keeps the warp's draws apart from the shifts' (``"view"``)."""
    digest = hashlib.sha256(f"kdistill-cache-{stream}:{seed}:{view}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def view_shifts(num_samples: int, max_shift: int, seed: int, view: int) -> torch.Tensor:
    """(N, 2) int64 jitter offsets (dy, dx) of view ``view`` for every sample id (zeros when ``max_shift == 0``)."""
    generator = torch.Generator().manual_seed(view_seed(seed, view))
    return sample_shifts(num_samples, max_shift, generator)


def view_warps(num_samples: int, warp: WarpOptions | None, seed: int, view: int) -> Warps | None:
    """The warp of view ``view`` for every sample id (N rows), or None when ``warp`` is None or all zero."""
    if warp is None or not warp.active:
        return None
    return sample_warps(num_samples, warp, torch.Generator().manual_seed(view_seed(seed, view, "warp")))


def apply_view(inputs: torch.Tensor, shift: torch.Tensor, warps: Warps | None) -> torch.Tensor:
    """Inputs (B, C, H, W) as one stored view shows them: warped by ``warps`` (B rows, if any), then shifted by
    ``shift`` (B, 2). The cache builder and the loader both call this, so the student sees what the teacher saw."""
    if warps is not None:
        inputs = warp_images(inputs, warps)
    return shift_images(inputs, shift) if bool(shift.any()) else inputs


def epoch_view(epoch: int, views: int) -> int:
    """The stored view that training epoch ``epoch`` (1-based) uses."""
    return (epoch - 1) % views


class CachedViewLoader(ArrayLoader):
    """An :class:`ArrayLoader` whose epoch ``e`` shows every sample as cached view ``(e - 1) mod views``.

    Order, batching and rank sharding are exactly ArrayLoader's (same seed -> same order); only the jitter offsets
    (and the warp, with ``warp``) come from the cache's views. Batches carry an extra ``"view"`` (B,) int64 key for
    the cached teacher.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        views: int,
        max_shift: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        view_seed: int | None = None,
        warp: WarpOptions | None = None,
    ):
        super().__init__(images, labels, batch_size, shuffle, max_shift, seed, drop_last, rank, world_size)
        self.views = views
        self.view_seed = seed if view_seed is None else view_seed  # the cache's seed; ``seed`` drives the order
        self.warp = warp
        self._shifts: dict[int, torch.Tensor] = {}
        self._warps: dict[int, Warps | None] = {}

    @property
    def view(self) -> int:
        return epoch_view(self.epoch, self.views)

    def epoch_plan(self) -> tuple[torch.Tensor, torch.Tensor]:
        order, _ = super().epoch_plan()
        if self.view not in self._shifts:
            self._shifts = {self.view: view_shifts(len(self.labels), self.max_shift, self.view_seed, self.view)}
        return order, self._shifts[self.view]

    def view_inputs(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        if self.view not in self._warps:  # one view's parameters at a time: (N, 2, 3) + (N, 2, g, g) floats
            self._warps = {self.view: view_warps(len(self.labels), self.warp, self.view_seed, self.view)}
        warps = self._warps[self.view]
        return apply_view(self.images[index], shift, None if warps is None else warps.select(index))

    def __iter__(self) -> Iterator[Batch]:
        view = self.view
        for batch in super().__iter__():
            batch["view"] = torch.full_like(batch["index"], view)
            yield batch
