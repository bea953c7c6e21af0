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
from typing import Any

import torch

from kdistill.batch import Batch
from kdistill.cache.store import TeacherCache
from kdistill.data.jitter import sample_shifts, shift_images
from kdistill.data.loader import ArrayLoader
from kdistill.data.warp import Warps, sample_warps, warp_images
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError
from kdistill.losses.soft_targets import tempered_log_probs


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
    cache then serves a batch without any per-step lookup. Views, jitter and seed are taken from the cache. With
    ``temperature`` (the distillation T) the epoch's log σ(z_t / T) are decoded in the same pass and handed out as
    ``"cached_log_probs"`` (with ``"cached_temperature"``): a KD loss then needs no teacher softmax per batch. The
    loader holds one view's table and two epoch-ordered tables of the same size.
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
        temperature: float | None = None,
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
        if temperature is not None and not temperature > 0:
            raise ConfigError(f"CachedViewLoader temperature must be > 0 (the distillation T), got {temperature}")
        self.temperature = temperature
        self._shifts: dict[int, torch.Tensor] = {}
        self._warps: dict[int, Warps | None] = {}
        self._targets: torch.Tensor | None = None  # (M, C) this epoch's teacher logits in batch order
        self._log_probs: torch.Tensor | None = None  # (M, C) their log σ(z_t / T) at ``temperature``
        self._batch_keys: list[dict[str, Any]] = []  # per batch of the epoch: what __iter__ adds

    @property
    def view(self) -> int:
        return epoch_view(self.epoch, self.views)

    def epoch_plan(self) -> tuple[torch.Tensor, torch.Tensor]:
        order, _ = super().epoch_plan()
        if self.view not in self._shifts:
            self._shifts = {self.view: view_shifts(len(self.labels), self.max_shift, self.view_seed, self.view)}
        self._targets = self._log_probs = None
        # the decoded view, its epoch-ordered copy and (with a temperature) the log-probs: the budget covers all three
        if self.cache is not None and self.cache.table_fits(2 if self.temperature is None else 3):
            self._targets = self.cache.view_logits(self.view).index_select(0, order)  # (M, C), one gather
            if self.temperature is not None:
                self._log_probs = tempered_log_probs(self._targets, self.temperature)  # (M, C), once per epoch
        self._batch_keys = self.batch_keys(len(order))
        return order, self._shifts[self.view]

    def view_inputs(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        if self.warp is None:  # jitter only: exactly what ArrayLoader does (apply_view would shift alike)
            return super().view_inputs(index, shift)
        if self.view not in self._warps:  # one view's parameters at a time: (N, 2, 3) + (N, 2, g, g) floats
            self._warps = {self.view: view_warps(len(self.labels), self.warp, self.view_seed, self.view)}
        warps = self._warps[self.view]
        return apply_view(self.images[index], shift, None if warps is None else warps.select(index))

    def batch_keys(self, count: int) -> list[dict[str, Any]]:
        """The keys this loader adds to each of the epoch's batches over ``count`` samples: the view id (B,) and,
        with the cache's table, the batch's teacher logits (B, C) and log-probs (B, C) - views into the epoch's
        tables, cut once per epoch so that a step only merges a dict."""
        sizes = [min(self.batch_size, count - start) for start in range(0, len(self) * self.batch_size, self.batch_size)]
        views = torch.full((self.batch_size,), self.view, dtype=torch.int64)
        keys: list[dict[str, Any]] = [{"view": views[:size]} for size in sizes]
        if self._targets is not None:
            for batch, logits in zip(keys, self._targets.split(self.batch_size)):
                batch.update(cached_logits=logits, cache_fingerprint=self.cache.fingerprint)
        if self._log_probs is not None:
            for batch, log_probs in zip(keys, self._log_probs.split(self.batch_size)):
                batch.update(cached_log_probs=log_probs, cached_temperature=self.temperature)
        return keys

    def __iter__(self) -> Iterator[Batch]:
        for number, batch in enumerate(super().__iter__()):  # the first step runs epoch_plan: the keys exist
            batch.update(self._batch_keys[number])
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
