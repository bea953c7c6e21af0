"""The model-output contract: whatever a model returns, ``logits_of`` finds its logits.

Accepted outputs (each gives logits ``(B, C)`` or ``(B, T, V)``):

- a tensor: the logits themselves (kdistill's own models, most plain ``nn.Module`` classifiers);
- a tuple or list: its first item (``return_dict=False`` Hugging Face models, models returning
  ``(logits, features)``);
- an object with a ``.logits`` attribute or a mapping with a ``"logits"`` key (Hugging Face ``ModelOutput`` such as
  ``SequenceClassifierOutput``, or a model returning ``{"logits": ..., ...}``).

kdistill never passes labels into a model (see ``kdistill.batch``), so a Hugging Face tuple output never starts with a
loss and its first item is the logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kdistill.errors import ShapeError

ACCEPTED_OUTPUTS = "a logits tensor, a tuple/list whose first item is the logits, or an object/dict with .logits"


def logits_of(output: Any) -> torch.Tensor:
    """The logits inside a model's ``output`` (see the module docstring); a one-line ShapeError otherwise."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        logits, source = (output[0] if output else None), f"{type(output).__name__}[0]"
    elif isinstance(output, Mapping) and "logits" in output:
        logits, source = output["logits"], f"{type(output).__name__}['logits']"
    elif getattr(output, "logits", None) is not None:
        logits, source = output.logits, f"{type(output).__name__}.logits"
    else:
        keys = f" with keys {sorted(map(str, output))}" if isinstance(output, Mapping) else ""
        raise ShapeError(f"the model returned {type(output).__name__}{keys}; expected {ACCEPTED_OUTPUTS}")
    if not isinstance(logits, torch.Tensor):
        raise ShapeError(f"the model's output {source} is {type(logits).__name__}, not a tensor; expected "
                         f"{ACCEPTED_OUTPUTS}")
    return logits
