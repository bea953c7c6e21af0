"""How a language-model teacher's next-token distributions are stored per token, and recovered.

Each token stores the teacher's k most likely next tokens: their ids and their log-probabilities under the FULL
softmax at temperature 1 (so the residual mass 1 − Σ exp(log p) stays recoverable; the distillation loss decides
what to do with it - ``kdistill.losses.token_divergence``). Ids are uint16 when the vocabulary has at most 65,536
tokens (SmolLM2: 49,152), int32 otherwise. Values, per value format:

- ``"fp16"``: the log-probs in float16. Decoding gives exactly the float16-rounded teacher top-k (relative error
  <= 2^-11 per log-prob). 2k + 2k bytes per token: 256 at k = 64.
- ``"int8"``: one byte per log-prob, linear in log space per token: with top = the largest log-prob (the first, as
  top-k is sorted) and span = top − smallest, code = round((top − log p) · 255 / span) in [0, 255] (stored uint8),
  plus (top, span / 255) in float32. Decoding gives top − code · scale: the most likely token exactly (code 0), every
  other log-prob within ``scale / 2 = span / 510`` (+ float32 rounding). 2k + k + 8 bytes: 200 at k = 64.
- ``"full"``: all V log-probs in float16 and no ids (2V bytes per token: 98,304 at V = 49,152) - the reference the
  compressed formats are measured against, decoded as a k = V top-k with ids 0..V-1.

Log-probs are clamped to float16's finite range (>= −65504) first, so a teacher that gives a token logit −inf stores
a finite value; decoded, its probability is still exactly 0.
"""

from __future__ import annotations

import numpy as np
import torch

VALUE_FORMATS = ("fp16", "int8", "full")
FLOAT16_LOWEST = float(np.finfo(np.float16).min)


def index_dtype(vocab_size: int) -> str:
    """The smallest dtype that holds every token id: uint16 up to 65,536 tokens, int32 beyond."""
    return "uint16" if vocab_size <= 1 << 16 else "int32"


def stored_arrays(value_format: str, k: int, vocab_size: int, length: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Array name -> (numpy dtype, per-sequence shape) that ``value_format`` stores for sequences of ``length``."""
    if value_format == "full":
        return {"values": ("float16", (length, vocab_size))}
    arrays = {"indices": (index_dtype(vocab_size), (length, k))}
    if value_format == "fp16":
        arrays["values"] = ("float16", (length, k))
    else:
        arrays["codes"] = ("uint8", (length, k))
        arrays["quant"] = ("float32", (length, 2))  # (top log-prob, scale) per token
    return arrays


def encode(teacher_logits: torch.Tensor, value_format: str, k: int) -> dict[str, np.ndarray]:
    """Teacher logits (b, T, V) -> the arrays ``stored_arrays`` names, each with leading dim b."""
    log_probs = torch.log_softmax(teacher_logits.detach().float(), dim=-1).clamp_min(FLOAT16_LOWEST)  # (b, T, V)
    if value_format == "full":
        return {"values": log_probs.cpu().numpy().astype(np.float16)}
    values, indices = log_probs.topk(k, dim=-1)  # (b, T, k), sorted descending
    encoded = {"indices": indices.cpu().numpy().astype(index_dtype(log_probs.shape[-1]))}
    if value_format == "fp16":
        encoded["values"] = values.cpu().numpy().astype(np.float16)
        return encoded
    top = values[..., :1]  # (b, T, 1)
    scale = (top - values[..., -1:]) / 255.0  # (b, T, 1); 0 when all k log-probs are equal
    codes = torch.where(scale > 0, ((top - values) / scale.clamp_min(1e-30)).round(), torch.zeros_like(values))
    encoded["codes"] = codes.clamp(0, 255).cpu().numpy().astype(np.uint8)
    encoded["quant"] = torch.cat([top, scale], dim=-1).cpu().numpy().astype(np.float32)
    return encoded


def decode(arrays: dict[str, np.ndarray], value_format: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Stored arrays with leading dim b -> (log-probs (b, T, k) float32, token ids (b, T, k) int64)."""
    if value_format == "full":
        values = torch.from_numpy(np.asarray(arrays["values"], dtype=np.float32))  # (b, T, V)
        return values, torch.arange(values.shape[-1]).expand(values.shape)  # ids broadcast, not materialised
    indices = torch.from_numpy(np.asarray(arrays["indices"]).astype(np.int64))
    if value_format == "fp16":
        return torch.from_numpy(np.asarray(arrays["values"], dtype=np.float32)), indices
    quant = torch.from_numpy(np.asarray(arrays["quant"], dtype=np.float32))  # (b, T, 2)
    codes = torch.from_numpy(np.asarray(arrays["codes"]).astype(np.float32))  # (b, T, k)
    return quant[..., :1] - codes * quant[..., 1:], indices
