"""Soft targets as log-probabilities, and the tempered KL computed from them with the fewest autograd nodes.

A teacher's soft targets at temperature T are log p = log σ(z_t / T). A cache decodes them once per epoch
(``CachedViewLoader(temperature=...)``), so a distillation step needs only the student's side:

    T² · KL(p ‖ q) = T² / n · Σ_rows Σ_i p_i (log p_i − log q_i),    log q = log σ(z_s / T)

For a small student the loss's per-call overhead, not its arithmetic, decides what distillation costs over a plain
step. Timed right after the student's forward, as in training (benchmarks/teacher_cache_profile.py, results in
``results/teacher_cache_profile.md``), the native composition below - one log-softmax and one ``kl_div`` recorded
by autograd - was compared with a hand-written ``autograd.Function`` for the whole objective, whose Python forward
and backward run on caches the student's matmuls have just evicted.
Shapes: (..., C); float32 inside (float64 stays float64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdistill.losses.temperature import check_temperature

VECTORISED_CLASSES = 16


def log_softmax_last(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits, -1)`` for (B, C); with fewer than 16 classes it reduces over dim 0 of the transposed
    view instead: torch's CPU kernel takes a scalar path for a last dim < 16 (128x10: ~25 µs, transposed ~7 µs on
    the benchmark machine; at C >= 16 the direct call is faster)."""
    if logits.dim() == 2 and logits.shape[-1] < VECTORISED_CLASSES and logits.device.type == "cpu":
        return F.log_softmax(logits.t(), dim=0).t()
    return F.log_softmax(logits, dim=-1)


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.dtype == torch.float64 else tensor.float()


def tempered_log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``log σ(logits / T)`` (..., C) in float32 (float64 stays float64), without autograd: a teacher's targets."""
    check_temperature(temperature)
    with torch.no_grad():
        return log_softmax_last(at_least_float32(logits) / temperature)


def kl_sum_from_log_probs(student_logits: torch.Tensor, teacher_log_probs: torch.Tensor,
                          temperature: float) -> torch.Tensor:
    """Σ over the B rows of KL(p ‖ σ(z_s / T)), for student logits (B, C) and teacher log-probs (B, C) at T (no
    grad); a scalar with gradient (q − p) / T. The caller scales it (T² / B for Hinton's batch mean) in the same
    multiplication as its weight: every node counts on a small student.
    """
    student, teacher, dim = at_least_float32(student_logits), teacher_log_probs, -1
    if student.dim() == 2 and student.shape[-1] < VECTORISED_CLASSES and student.device.type == "cpu":
        # (C, B) views: the softmax over dim 0 is the fast CPU kernel for few classes (see log_softmax_last), and
        # kl_div needs no layout of its own - no transpose node in the graph, the teacher's view is outside autograd
        student, teacher, dim = student.t(), teacher.t(), 0
    log_q = F.log_softmax(student / temperature, dim=dim)
    return F.kl_div(log_q, teacher.to(log_q.dtype), reduction="sum", log_target=True)
