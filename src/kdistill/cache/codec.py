"""How teacher logits are compressed in the cache, and recovered.

- ``"full"``: all C logits in float16 (2·C bytes per view).
- ``"topk"``: the k largest logits (float16 values + int16 class ids) and one float16 *fill* logit for the other
  C - k classes (4·k + 2 bytes per view). The fill is chosen so that, at the cache's temperature T, the decoded
  distribution gives the top-k classes exactly their true probabilities and spreads the remaining probability mass
  *uniformly* over the other classes:

      (C - k) · exp(f / T) = Σ_{j ∉ top-k} exp(z_j / T)   =>   f = T · (logsumexp_{j ∉ top-k}(z_j / T) - log(C - k))

  Since f is a (tempered) mean of the discarded logits it never exceeds the smallest kept one, so the argmax and the
  top-k ranking survive. Set the cache temperature to the distillation temperature (the default): at another
  temperature the remaining mass is only approximately right.
"""

from __future__ import annotations

import math

import numpy as np
import torch

FORMATS = ("full", "topk")


def stored_arrays(fmt: str, num_classes: int, topk: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Array name -> (numpy dtype, per-view shape) that format ``fmt`` stores."""
    if fmt == "full":
        return {"logits": ("float16", (num_classes,))}
    k = min(topk, num_classes)
    return {"topk_values": ("float16", (k,)), "topk_indices": ("int16", (k,)), "topk_fill": ("float16", ())}


def encode(logits: torch.Tensor, fmt: str, topk: int, temperature: float) -> dict[str, np.ndarray]:
    """Teacher logits (B, C) -> the arrays ``stored_arrays`` names, each with leading dim B."""
    logits = logits.detach().double().cpu()
    if fmt == "full":
        return {"logits": logits.numpy().astype(np.float16)}
    count, num_classes = logits.shape
    k = min(topk, num_classes)
    values, indices = logits.topk(k, dim=-1)  # (B, k) each
    if k < num_classes:
        rest = logits.scatter(-1, indices, -math.inf)  # (B, C): the discarded logits, kept ones masked out
        fill = temperature * (torch.logsumexp(rest / temperature, dim=-1) - math.log(num_classes - k))  # (B,)
    else:
        fill = torch.zeros(count, dtype=torch.float64)
    return {
        "topk_values": values.numpy().astype(np.float16),
        "topk_indices": indices.numpy().astype(np.int16),
        "topk_fill": fill.numpy().astype(np.float16),
    }


def decode(arrays: dict[str, np.ndarray], fmt: str, num_classes: int) -> torch.Tensor:
    """Stored arrays with leading dim B -> float32 logits (B, C)."""
    if fmt == "full":
        return torch.from_numpy(np.asarray(arrays["logits"], dtype=np.float32))
    values = torch.from_numpy(np.asarray(arrays["topk_values"], dtype=np.float32))  # (B, k)
    indices = torch.from_numpy(np.asarray(arrays["topk_indices"], dtype=np.int64))  # (B, k)
    fill = torch.from_numpy(np.asarray(arrays["topk_fill"], dtype=np.float32))  # (B,)
    logits = fill.unsqueeze(-1).expand(-1, num_classes).clone()  # (B, C)
    return logits.scatter_(-1, indices, values)
