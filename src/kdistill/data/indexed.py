"""Sample ids for a user's own dataset: ``with_index(dataset)`` makes every sample carry its position.

Some components keep per-sample state and address it by ``batch["index"]``: CRD's memory banks, a cached teacher's
stored outputs. kdistill's own loaders always yield it; a plain ``DataLoader`` over your dataset does not. Wrap the
dataset (not the loader) and the default collate stacks the ids into an int64 ``(B,)`` tensor:

    loader = DataLoader(kdistill.with_index(train_set), batch_size=64, shuffle=True)
    kdistill.distill(teacher, student, loader, method="crd")

Each sample becomes a batch-contract dict (see ``kdistill.batch``) with ``"index"`` = its position ``0..len-1``:

- ``(inputs, labels)`` -> ``{"inputs": inputs, "labels": labels, "index": i}``;
- a dict (contract or Hugging Face-style, e.g. ``{"input_ids", "attention_mask", "labels"}``) -> the same dict plus
  ``"index": i``;
- anything else (a bare tensor, a ``(inputs,)`` tuple) -> ``{"inputs": sample, "index": i}`` (unlabelled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import DataLoader, Dataset, IterableDataset

from kdistill.errors import ConfigError


class IndexedDataset(Dataset):
    """A map-style ``dataset`` whose samples are dicts carrying ``"index"`` (their position in ``dataset``)."""

    def __init__(self, dataset: Any):
        if isinstance(dataset, DataLoader):
            raise ConfigError("with_index wraps a dataset, not a DataLoader: use "
                              "DataLoader(kdistill.with_index(dataset), ...)")
        map_style = hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")
        if isinstance(dataset, IterableDataset) or not map_style:
            raise ConfigError(f"with_index needs a map-style dataset (with __len__ and __getitem__), got "
                              f"{type(dataset).__name__}; an iterable stream has no stable sample ids")
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        if isinstance(sample, Mapping):
            if "index" in sample:
                raise ConfigError(f"{type(self.dataset).__name__} samples already carry 'index'; drop with_index")
            return {**sample, "index": index}
        if isinstance(sample, Sequence) and not isinstance(sample, str) and len(sample) == 2:
            inputs, labels = sample
            return {"inputs": inputs, "labels": labels, "index": index}
        if isinstance(sample, Sequence) and not isinstance(sample, str) and len(sample) == 1:
            sample = sample[0]  # TensorDataset(x) yields (x_i,)
        return {"inputs": sample, "index": index}


def with_index(dataset: Any) -> IndexedDataset:
    """Wrap a map-style ``dataset`` so each sample carries its position as ``"index"`` (see the module docstring)."""
    return IndexedDataset(dataset)
