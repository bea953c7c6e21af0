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

    Batches come from a :class:`~kdistill.cache.CachedViewLoader` over the same training arrays; one built with
    ``cache=`` (the same cache) brings each batch's logits along - and with ``temperature=`` its log-probabilities at
    that temperature, which :meth:`log_probs` serves to a KD loss - so the step does no lookup at all. With
    ``check_views=True`` the batch's ``shift`` is compared with the stored view's offsets, so a target can never be
    served for a different augmentation than the one the student sees.
    """

    def __init__(self, cache: TeacherCache, check_views: bool = True):
        super().__init__()
        self.cache = cache
        self.num_classes = cache.num_classes
        self.check_views = check_views
        self._shifts: dict[int, torch.Tensor] = {}  # view -> (N, 2) int64 offsets, one view at a time

    def _views(self, batch: Batch) -> int | torch.Tensor:
        """The batch's view: one int when every sample shows the same stored view (the fast path), else (B,)."""
        if "index" not in batch:
            raise ConfigError("a cached teacher needs batches with 'index' (use CachedViewLoader / ArrayLoader)")
        if "view" in batch:
            view = batch["view"]
            return self.cache.single_view(view) if view.numel() else view
        if self.cache.views == 1:
            return 0
        raise ConfigError(f"the teacher cache stores {self.cache.views} views per sample but the batch has no "
                          "'view' key; train with kdistill.cache.CachedViewLoader")

    def _check(self, batch: Batch, view: int | torch.Tensor) -> None:
        """Refuse a batch whose jitter offsets are not those of the stored views it asks for."""
        if not self.check_views or "shift" not in batch:
            return
        index = batch["index"].cpu()
        try:
            if isinstance(view, int):  # one view, as CachedViewLoader's batches are: one lookup
                expected = self._view_shifts(view).index_select(0, index)  # (B, 2)
            else:
                expected = torch.empty(len(index), 2, dtype=torch.int64)
                for value in view.cpu().unique().tolist():
                    chosen = view.cpu() == value
                    expected[chosen] = self._view_shifts(value)[index[chosen]]
        except IndexError as error:
            raise self.cache.out_of_range_error() from error
        if not torch.equal(expected, batch["shift"].cpu().long()):
            raise ConfigError("batch jitter offsets differ from the cached views' (different seed or jitter?); "
                              "train with CachedViewLoader built from the cache's seed and jitter")

    def _view_shifts(self, view: int) -> torch.Tensor:
        """(N, 2) int64 offsets of stored view ``view``; the last view asked for is kept."""
        if view not in self._shifts:
            manifest = self.cache.manifest
            self._shifts = {view: view_shifts(manifest["num_samples"], manifest["max_shift"], manifest["seed"], view)}
        return self._shifts[view]

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        if batch.get("cache_fingerprint") == self.cache.fingerprint:
            return batch["cached_logits"]  # gathered for the whole epoch by CachedViewLoader(cache=...)
        view = self._views(batch)
        self._check(batch, view)
        return self.cache.logits(batch["index"], view).to(batch["index"].device)

    def log_probs(self, batch: Batch, temperature: float) -> torch.Tensor:
        if (batch.get("cache_fingerprint") == self.cache.fingerprint
                and batch.get("cached_temperature") == temperature):
            return batch["cached_log_probs"]  # decoded for the whole epoch by CachedViewLoader(temperature=...)
        return super().log_probs(batch, temperature)

    def features(self, batch: Batch, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The stored intermediate outputs {module name: (B, ...) float32} for this batch's views (all stored
        layers, or only ``names``)."""
        view = self._views(batch)
        self._check(batch, view)
        if isinstance(view, int):
            view = torch.full_like(batch["index"], view)
        return {name: self.cache.feature(name, batch["index"], view).to(batch["index"].device)
                for name in (self.cache.features if names is None else names)}
