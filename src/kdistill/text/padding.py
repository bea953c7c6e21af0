"""Trim a batch of right-padded sequences to its longest real sequence.

Sentences are stored padded to ``max_length`` so any batch stacks, but a batch of short reviews need not pay for 64
positions: columns where every ``attention_mask`` is 0 change nothing a masked encoder computes for the real tokens
(right padding, absolute positions), so they are cut before the model runs. Rotten Tomatoes snippets average 27
tokens, so at ``max_length`` 64 this roughly halves the cost of a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

MASK_KEY = "attention_mask"


def trim_padding(inputs: Any) -> Any:
    """``{"input_ids": (B, T), "attention_mask": (B, T), ...}`` -> every (B, T, ...) tensor cut to (B, L), L the
    longest real length in the batch; anything without an ``attention_mask`` is returned unchanged."""
    if not isinstance(inputs, Mapping) or not isinstance(inputs.get(MASK_KEY), torch.Tensor):
        return inputs
    mask = inputs[MASK_KEY]
    if mask.dim() != 2 or mask.shape[1] == 0:
        return inputs
    real = mask.ne(0).any(dim=0).nonzero()  # columns holding at least one real token
    length = int(real.max()) + 1 if len(real) else 1
    if length == mask.shape[1]:
        return inputs
    steps = mask.shape[1]
    return {key: value[:, :length] if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[1] == steps
            else value for key, value in inputs.items()}
