"""Soft targets as log-probabilities, and Hinton's objective on (B, C) logits as one autograd node.

A teacher's soft targets at temperature T are log p = log σ(z_t / T). A cache decodes them once per epoch
(``CachedViewLoader(temperature=...)``), so a distillation step needs only the student's side of

    L = α · CE(y, σ(z_s)) + β · T² / n · Σ_rows Σ_i p_i (log p_i − log q_i),    log q = log σ(z_s / T)

For a small student the loss's per-call overhead, not its arithmetic, decides what distillation costs over a plain
step. :class:`HintonObjective` computes the student's log-softmax at 1 and at T once each and writes the gradient
out, ∂L/∂z_s = α (σ(z_s) − onehot(y)) / n + β T (q − p) / n: one node instead of the eight a native composition
adds to the plain step's graph. Timed right after the student's forward, as in training
(results/teacher_cache_profile.md), it and the native composition from log-probs both cost less than the earlier
T²KL node + cross-entropy on logits, and could not be told apart from each other on the shared machine.
Shapes: (B, C); float32 inside (float64 stays float64), also under autocast.
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


class HintonObjective(torch.autograd.Function):
    """(α · CE + β · T² · KL, CE, T² · KL) for student logits (B, C), fixed teacher log-probs (B, C) at T and valid
    (B,) class ids (or None: no CE term); the last two outputs are the detached terms for logging."""

    @staticmethod
    def forward(ctx, student_logits, teacher_log_probs, labels, temperature: float, alpha: float, beta: float):
        device = student_logits.device.type
        if torch.is_autocast_enabled(device):  # the check costs ~1 µs, the context ~3: enter it only when needed
            with torch.autocast(device, enabled=False):
                return _objective_forward(ctx, student_logits, teacher_log_probs, labels, temperature, alpha, beta)
        return _objective_forward(ctx, student_logits, teacher_log_probs, labels, temperature, alpha, beta)

    @staticmethod
    def backward(ctx, grad_total, _grad_ce, _grad_kd):
        if grad_total is None:  # only the logged terms were used (they are not differentiable)
            return None, None, None, None, None, None
        log_q, p, log_s, labels = ctx.saved_tensors
        soft_weight, hard_weight = ctx.weights
        grad = log_q.exp().sub_(p).mul_(soft_weight)  # β · T · (q − p) / n
        if log_s is not None and hard_weight:
            hard = log_s.exp()  # σ(z_s) − onehot(y)
            hard.scatter_add_(1, labels.unsqueeze(1), hard.new_full((len(labels), 1), -1.0))
            grad.add_(hard, alpha=hard_weight)  # + α · (σ(z_s) − onehot(y)) / n
        return (grad * grad_total).to(ctx.dtype), None, None, None, None, None


def _objective_forward(ctx, student_logits, teacher_log_probs, labels, temperature, alpha, beta):
    logits = at_least_float32(student_logits)  # (B, C)
    log_p = teacher_log_probs.to(logits.dtype)  # (B, C)
    rows = len(logits)
    log_q = log_softmax_last(logits / temperature)  # (B, C): the student at T
    p = log_p.exp()
    kd = (p * (log_p - log_q)).sum() * (temperature**2 / rows)
    if labels is None:
        log_s, ce, total = None, logits.new_zeros(()), kd * beta
    else:
        log_s = log_softmax_last(logits)  # (B, C): the student at 1
        ce = F.nll_loss(log_s, labels)
        total = torch.add(kd * beta, ce, alpha=alpha)
    ctx.save_for_backward(log_q, p, log_s, labels)
    ctx.weights = (beta * temperature / rows, alpha / rows)
    ctx.dtype = student_logits.dtype
    ctx.mark_non_differentiable(ce, kd)
    ctx.set_materialize_grads(False)  # the logged terms get no zero gradient tensors
    return total, ce, kd


def objective_applies(student_logits: torch.Tensor, labels: torch.Tensor | None) -> bool:
    """Whether :class:`HintonObjective` covers the case: (B, C) logits, B > 0, and (B,) labels without ignored
    entries (the objective's CE has no ignore index), or no labels."""
    if student_logits.dim() != 2 or len(student_logits) == 0:
        return False
    return labels is None or (labels.dim() == 1 and not labels.is_floating_point() and int(labels.min()) >= 0)
