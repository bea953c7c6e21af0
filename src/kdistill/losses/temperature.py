"""Softmax with temperature (Hinton, Vinyals & Dean 2015, eq. 1): q_i = exp(z_i / T) / sum_j exp(z_j / T).

Raising T flattens the distribution and exposes the "dark knowledge": the relative probabilities of wrong classes.
All functions take logits of shape ``(..., C)`` and compute in float32 even when given bf16/fp16 (small probabilities
are the whole point, and they underflow in half precision).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def softmax_with_temperature(logits: torch.Tensor, temperature: float, dim: int = -1) -> torch.Tensor:
    """``softmax(logits / T)`` in float32. Shape is preserved: ``(..., C) -> (..., C)``."""
    check_temperature(temperature)
    return F.softmax(logits.float() / temperature, dim=dim)


def log_softmax_with_temperature(logits: torch.Tensor, temperature: float, dim: int = -1) -> torch.Tensor:
    """``log_softmax(logits / T)`` in float32, computed stably (no log of an underflowed probability)."""
    check_temperature(temperature)
    return F.log_softmax(logits.float() / temperature, dim=dim)
