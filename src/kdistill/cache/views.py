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
from kdistill.cache.store import TeacherCache
from kdistill.data.jitter import sample_shifts, shift_images
from kdistill.data.loader import ArrayLoader
from kdistill.data.warp import Warps, sample_warps, warp_images
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError


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

    Given the ``cache`` itself, the loader also gathers the epoch's teacher logits in one ``index_select`` when the
    epoch starts (the whole epoch's targets in batch order, (M, C) float32) and hands each batch its slice as
    ``"cached_logits"`` with the cache's ``"cache_fingerprint"``: a :class:`~kdistill.cache.CachedTeacher` on the same
    cache then serves a batch without any per-step lookup. Views, jitter and seed are taken from the cache.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        views: int | None = None,
        max_shift: int | None = None,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        view_seed: int | None = None,
        cache: TeacherCache | None = None,
        warp: WarpOptions | None = None,
    ):
        if cache is not None:
            views, max_shift, view_seed = matching_view_settings(cache, len(labels), views, max_shift, view_seed)
        if views is None:
            raise ConfigError("CachedViewLoader needs views= (the cache's views per sample) or cache=")
        super().__init__(images, labels, batch_size, shuffle, max_shift or 0, seed, drop_last, rank, world_size)
        self.views = views
        self.view_seed = seed if view_seed is None else view_seed  # the cache's seed; ``seed`` drives the order
        self.cache = cache
        self.warp = warp
        self._shifts: dict[int, torch.Tensor] = {}
        self._warps: dict[int, Warps | None] = {}
        self._targets: torch.Tensor | None = None  # (M, C) this epoch's teacher logits in batch order

    @property
    def view(self) -> int:
        return epoch_view(self.epoch, self.views)

    def epoch_plan(self) -> tuple[torch.Tensor, torch.Tensor]:
        order, _ = super().epoch_plan()
        if self.view not in self._shifts:
            self._shifts = {self.view: view_shifts(len(self.labels), self.max_shift, self.view_seed, self.view)}
        self._targets = None
        if self.cache is not None and self.cache.table_fits():
            self._targets = self.cache.view_logits(self.view).index_select(0, order)  # (M, C), one gather
        return order, self._shifts[self.view]

    def view_inputs(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        if self.view not in self._warps:  # one view's parameters at a time: (N, 2, 3) + (N, 2, g, g) floats
            self._warps = {self.view: view_warps(len(self.labels), self.warp, self.view_seed, self.view)}
        warps = self._warps[self.view]
        return apply_view(self.images[index], shift, None if warps is None else warps.select(index))

    def __iter__(self) -> Iterator[Batch]:
        view = self.view
        views = torch.full((self.batch_size,), view, dtype=torch.int64)
        for number, batch in enumerate(super().__iter__()):
            size = len(batch["index"])
            batch["view"] = views[:size]
            if self._targets is not None:
                start = number * self.batch_size
                batch["cached_logits"] = self._targets[start : start + size]  # (B, C), a view
                batch["cache_fingerprint"] = self.cache.fingerprint
            yield batch


def matching_view_settings(
    cache: TeacherCache, num_samples: int, views: int | None, max_shift: int | None, view_seed: int | None
) -> tuple[int, int, int]:
    """(views, max_shift, view seed) of ``cache``; explicit values that disagree with it are refused."""
    manifest = cache.manifest
    stored = {"views": cache.views, "max_shift": manifest["max_shift"], "view_seed": manifest["seed"]}
    given = {"views": views, "max_shift": max_shift, "view_seed": view_seed}
    wrong = {name: value for name, value in given.items() if value is not None and value != stored[name]}
    if wrong or num_samples != cache.num_samples:
        raise ConfigError(f"CachedViewLoader settings {wrong or ''} (samples {num_samples}) differ from the teacher "
                          f"cache's {stored} (samples {cache.num_samples}); pass cache= alone or rebuild the cache")
    return stored["views"], stored["max_shift"], stored["view_seed"]
