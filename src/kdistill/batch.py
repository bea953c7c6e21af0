"""The batch contract shared by loaders, teachers, strategies and the training loop.

A batch is a ``dict``:

- ``"inputs"``: a tensor (images ``(B, C, H, W)``, table rows ``(B, F)``) *or* a dict of tensors passed to the model as
  keyword arguments (text: ``{"input_ids": (B, T), "attention_mask": (B, T)}``);
- ``"labels"``: ``(B,)`` class ids, or ``(B, T)`` token ids for sequence outputs (ignored positions = -100);
- optional keys that components may use, e.g. ``"index"`` (B,) sample ids and ``"shift"`` (B, 2) jitter offsets,
  which let a cached teacher find the output for that exact augmented view.

Model outputs are logits ``(B, C)`` or ``(B, T, V)``; losses treat every leading dimension as a batch dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

Batch = dict[str, Any]


def as_batch(raw: Any) -> Batch:
    """Accept a contract dict, or an ``(inputs, labels)`` pair as a plain ``DataLoader`` yields it."""
    if isinstance(raw, Mapping):
        if "inputs" not in raw:
            raise KeyError(f"a batch dict needs an 'inputs' key; got keys {sorted(raw)}")
        return dict(raw)
    if isinstance(raw, Sequence) and len(raw) == 2:
        inputs, labels = raw
        return {"inputs": inputs, "labels": labels}
    raise TypeError(f"a batch must be a dict with 'inputs' or an (inputs, labels) pair; got {type(raw).__name__}")


def forward_model(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Run ``model`` on the batch's inputs: a tensor positionally, a dict of tensors as keyword arguments."""
    inputs = batch["inputs"]
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)


def batch_size(batch: Batch) -> int:
    inputs = batch["inputs"]
    if isinstance(inputs, Mapping):
        inputs = next(iter(inputs.values()))
    return int(inputs.shape[0])


def move_batch(batch: Batch, device: torch.device | str) -> Batch:
    """Move every tensor (also inside a nested ``inputs`` dict) to ``device``."""

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(device, non_blocking=True)
        if isinstance(value, Mapping):
            return {key: move(item) for key, item in value.items()}
        return value

    return {key: move(value) for key, value in batch.items()}
