"""The cached teacher: serves stored outputs through the same interface as a live one."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from kdistill.batch import Batch
from kdistill.cache.store import TeacherCache
from kdistill.cache.views import view_shifts
from kdistill.errors import ConfigError
from kdistill.teachers.base import Teacher


class CachedTeacher(Teacher):
    """Looks up the teacher's logits for each batch element's (``index``, ``view``) in a :class:`TeacherCache`.

    Batches come from a :class:`~kdistill.cache.CachedViewLoader` over the same training arrays. With
    ``check_views=True`` the batch's ``shift`` is compared with the stored view's offsets, so a target can never be
    served for a different augmentation than the one the student sees.
    """

    def __init__(self, cache: TeacherCache, check_views: bool = True):
        super().__init__()
        self.cache = cache
        self.num_classes = cache.num_classes
        self.check_views = check_views
        self._shifts: torch.Tensor | None = None  # (V, N, 2) int8, built on first check

    def _views(self, batch: Batch) -> torch.Tensor:
        if "index" not in batch:
            raise ConfigError("a cached teacher needs batches with 'index' (use CachedViewLoader / ArrayLoader)")
        index = batch["index"]
        if "view" in batch:
            return batch["view"]
        if self.cache.views == 1:
            return torch.zeros_like(index)
        raise ConfigError(f"the teacher cache stores {self.cache.views} views per sample but the batch has no "
                          "'view' key; train with kdistill.cache.CachedViewLoader")

    def _check(self, batch: Batch, view: torch.Tensor) -> None:
        if not self.check_views or "shift" not in batch:
            return
        if self._shifts is None:
            manifest = self.cache.manifest
            self._shifts = torch.stack([
                view_shifts(manifest["num_samples"], manifest["max_shift"], manifest["seed"], v).to(torch.int8)
                for v in range(self.cache.views)
            ])
        expected = self._shifts[view.cpu(), batch["index"].cpu()].long()  # (B, 2)
        if not torch.equal(expected, batch["shift"].cpu().long()):
            raise ConfigError("batch jitter offsets differ from the cached views' (different seed or jitter?); "
                              "train with CachedViewLoader built from the cache's seed and jitter")

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        view = self._views(batch)
        self._check(batch, view)
        return self.cache.logits(batch["index"], view).to(batch["index"].device)

    def features(self, batch: Batch, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The stored intermediate outputs {module name: (B, ...) float32} for this batch's views (all stored
        layers, or only ``names``)."""
        view = self._views(batch)
        self._check(batch, view)
        return {name: self.cache.feature(name, batch["index"], view).to(batch["index"].device)
                for name in (self.cache.features if names is None else names)}
