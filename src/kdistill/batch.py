"""The batch contract shared by loaders, teachers, strategies and the training loop.

A batch is a ``dict``:

- ``"inputs"``: a tensor (images ``(B, C, H, W)``, table rows ``(B, F)``) *or* a dict of tensors passed to the model as
  keyword arguments (text: ``{"input_ids": (B, T), "attention_mask": (B, T)}``);
- ``"labels"``: ``(B,)`` class ids, or ``(B, T)`` token ids for sequence outputs (ignored positions = -100);
- optional keys that components may use, e.g. ``"index"`` (B,) sample ids and ``"shift"`` (B, 2) jitter offsets,
  which let a cached teacher find the output for that exact augmented view.

:func:`as_batch` turns what a user's ``DataLoader`` yields into that dict. It accepts

1. a contract dict with ``"inputs"`` (kept as it is; a ``"label"`` key is renamed ``"labels"``);
2. a Hugging Face-style flat dict, ``{"input_ids": ..., "attention_mask": ..., "labels": ...}``: every *tensor*
   whose key is not in :data:`BATCH_KEYS` becomes a model keyword argument under ``"inputs"``; ``labels`` (or
   ``label``) and the other batch keys stay beside it, and so do non-tensor values (e.g. a ``"text"`` list of raw
   strings a collator left in). Labels never go into the model: a Hugging Face model given ``labels`` computes its
   own loss, and a ``return_dict=False`` one would then return ``(loss, logits)``;
3. an ``(inputs, labels)`` pair, as a plain ``DataLoader`` over a ``TensorDataset`` yields it.

Model outputs go through :func:`kdistill.outputs.logits_of` (tensor, tuple, or ``.logits``), so
:func:`forward_model` always returns logits ``(B, C)`` or ``(B, T, V)``; losses treat every leading dimension as a
batch dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kdistill.errors import ShapeError
from kdistill.outputs import logits_of

Batch = dict[str, Any]

# Keys that describe a batch and are never passed to the model. The one place this list lives: a component that adds
# a per-sample key to batches (a view id, stored targets) adds it here, or a Hugging Face-style batch would feed it to
# the model as a keyword argument.
BATCH_KEYS = frozenset({
    "inputs",
    "labels",
    "label",  # Hugging Face datasets name the class column "label"; renamed to "labels"
    "index",  # (B,) sample ids: cached teachers, CRD's memory bank
    "shift",  # (B, 2) jitter offsets of ArrayLoader
    "view",  # (B,) augmented-view ids of CachedViewLoader
    "cached_logits",  # (B, C) teacher logits CachedViewLoader(cache=...) gathered for the epoch
    "cached_log_probs",  # (B, C) log σ(z_t / T) of those logits, decoded for the epoch at "cached_temperature"
    "cached_temperature",  # float: the T of "cached_log_probs"
    "cache_fingerprint",  # str: the teacher cache those logits came from
    "teacher_logits",  # PrecomputedTeacher's default key
})

ACCEPTED_BATCHES = ("a dict with 'inputs' (tensor or dict of model kwargs) and 'labels', a Hugging Face-style dict of "
                    "model kwargs (input_ids, attention_mask, pixel_values, ...) with 'labels', or an (inputs, "
                    "labels) pair")

INDEX_ADAPTER = "DataLoader(kdistill.with_index(dataset), ...)"


def as_batch(raw: Any) -> Batch:
    """The contract dict for one batch as a ``DataLoader`` yields it (see the module docstring for the forms)."""
    if isinstance(raw, Mapping):
        batch = dict(raw) if "inputs" in raw else keyword_batch(raw)
        if "label" in batch:
            if "labels" in batch:
                raise ShapeError("the batch has both 'label' and 'labels'; keep one (kdistill reads 'labels')")
            batch["labels"] = batch.pop("label")
        return batch
    if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) == 2:
        inputs, labels = raw
        return {"inputs": inputs, "labels": labels}
    raise ShapeError(f"a batch must be {ACCEPTED_BATCHES}; got {type(raw).__name__}")


def keyword_batch(raw: Mapping[str, Any]) -> Batch:
    """A Hugging Face-style flat dict -> ``{"inputs": {model kwargs}, <batch keys and non-tensor values>}``."""
    inputs = {key: value for key, value in raw.items() if key not in BATCH_KEYS and isinstance(value, torch.Tensor)}
    if not inputs:
        raise ShapeError(f"a batch dict needs 'inputs' or model keyword tensors; got keys {sorted(map(str, raw))}; "
                         f"accepted: {ACCEPTED_BATCHES}")
    batch = {key: value for key, value in raw.items() if key not in inputs}
    batch["inputs"] = inputs
    return batch


def forward_model(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Logits of ``model`` on the batch's inputs (a tensor positionally, a dict of tensors as keyword arguments);
    tuple and ``.logits`` outputs are unpacked by :func:`~kdistill.outputs.logits_of`."""
    inputs = batch["inputs"]
    if isinstance(inputs, Mapping):
        return logits_of(model(**inputs))
    return logits_of(model(inputs))


def require_index(batch: Batch, user: str) -> torch.Tensor:
    """``batch["index"]`` (B,) for a component that addresses per-sample state; a one-line error naming the adapter
    when the loader does not provide it."""
    index = batch.get("index")
    if index is None:
        raise ShapeError(f"{user} needs each batch's 'index' (sample ids into the training set), which this loader "
                         f"does not yield; wrap the dataset: {INDEX_ADAPTER}")
    return index


def batch_size(batch: Batch) -> int:
    inputs = batch["inputs"]
    if isinstance(inputs, Mapping):
        inputs = next((value for value in inputs.values() if isinstance(value, torch.Tensor)), None)
        if inputs is None:
            raise ShapeError(f"the batch's 'inputs' dict holds no tensor (keys {sorted(batch['inputs'])}); "
                             f"accepted: {ACCEPTED_BATCHES}")
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
