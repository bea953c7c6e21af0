"""Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network".

The student matches the teacher's tempered distribution p = softmax(z_t / T) with its own q = softmax(z_s / T):

    L_KD   = T² · KL(p ‖ q) = T² · Σ_i p_i (log p_i − log q_i)          (batch-mean over predictions)
    L      = α · CE(y, softmax(z_s)) + β · L_KD

The T² factor keeps the soft-target gradient, ∂L_KD/∂z_s = T (q − p), roughly constant as T changes (it would
otherwise shrink as 1/T²), so α and β need not be retuned per temperature. The soft-target cross-entropy
T² · (−Σ p log q) differs from the KL only by T² · H(p), which does not depend on the student: same gradient.
As T → ∞ with zero-mean logits, T (q − p) → (z_s − z_t) / C, the gradient of the logit-matching loss
(1 / 2C) · ‖z_s − z_t‖²: the paper's "matching logits is a special case of distillation".

Shapes: logits ``(..., C)``; labels ``(...)`` with -100 marking ignored positions; optional ``mask`` ``(...)``.
All losses are computed in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.losses.reduction import check_same_shape, masked_mean
from kdistill.losses.soft_targets import (
    HintonObjective,
    at_least_float32,
    log_softmax_last,
    objective_applies,
    tempered_log_probs,
)
from kdistill.losses.temperature import check_temperature, log_softmax_with_temperature

IGNORE_INDEX = -100


def kd_kl_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """T² · KL(softmax(z_t/T) ‖ softmax(z_s/T)), averaged over predictions (batch-mean, not element-mean)."""
    check_same_shape(student_logits, teacher_logits)
    if mask is None and not teacher_logits.requires_grad:  # the usual case: a frozen teacher's targets
        check_temperature(temperature)
        return TemperedKL.apply(student_logits, teacher_logits, float(temperature))
    return masked_kd_from_log_probs(student_logits, log_softmax_with_temperature(teacher_logits, temperature),
                                    temperature, mask)


def masked_kd_from_log_probs(
    student_logits: torch.Tensor, teacher_log_probs: torch.Tensor, temperature: float, mask: torch.Tensor | None
) -> torch.Tensor:
    """T² · KL(p ‖ softmax(z_s/T)) averaged over the predictions ``mask`` keeps, for teacher log-probs log p (..., C)
    at T (with or without grad)."""
    log_q = log_softmax_with_temperature(student_logits, temperature)
    # p·(log p − log q) with log-space targets: no log(0) even when p underflows.
    per_prediction = F.kl_div(log_q, teacher_log_probs, reduction="none", log_target=True).sum(-1)  # (...)
    return masked_mean(per_prediction, mask) * temperature**2


def tempered_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(T² · mean KL(p ‖ q), log q (..., C), p (..., C)) in float32 (float64 stays float64), without autograd
    bookkeeping."""
    log_q = log_softmax_last(at_least_float32(student_logits) / temperature)  # (..., C)
    log_p = log_softmax_last(at_least_float32(teacher_logits) / temperature)  # (..., C)
    p = log_p.exp()
    predictions = max(1, log_q.numel() // log_q.shape[-1])
    return (p * (log_p - log_q)).sum() * (temperature**2 / predictions), log_q, p


class TemperedKL(torch.autograd.Function):
    """T² · mean over predictions of KL(p ‖ q) for fixed targets, with the gradient written out: T · (q − p) / n.

    One autograd node instead of the ~10 a composed graph records: on a small student the KD term's bookkeeping
    cost as much as the student's own matmuls (see benchmarks/teacher_cache.py). Float32 inside, also under autocast.
    """

    @staticmethod
    def forward(ctx, student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
        device = student_logits.device.type
        if torch.is_autocast_enabled(device):  # the checks cost ~1 µs, the context ~3: enter it only when needed
            with torch.autocast(device, enabled=False):
                loss, log_q, p = tempered_kl(student_logits, teacher_logits, temperature)
        else:
            loss, log_q, p = tempered_kl(student_logits, teacher_logits, temperature)
        ctx.save_for_backward(log_q, p)
        ctx.scale, ctx.dtype = temperature / max(1, log_q.numel() // log_q.shape[-1]), student_logits.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        log_q, p = ctx.saved_tensors
        grad = (log_q.exp() - p) * (grad_output * ctx.scale)  # d/dz_s of T²·KL/n = T·(q − p)/n
        return grad.to(ctx.dtype), None, None


def soft_target_cross_entropy(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """T² · (−Σ_i p_i log q_i): the KD loss as a cross-entropy; same gradient as ``kd_kl_divergence``."""
    check_same_shape(student_logits, teacher_logits)
    log_q = log_softmax_with_temperature(student_logits, temperature)
    p = log_softmax_with_temperature(teacher_logits, temperature).exp()
    per_prediction = -(p * log_q).sum(-1)  # (...)
    return masked_mean(per_prediction, mask) * temperature**2


def logit_matching_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """(1 / 2C) · ‖z_s − z_t‖² per prediction, batch-mean: the T → ∞ limit of ``kd_kl_divergence`` (Caruana's MSE).

    Logits are centred first, as the limit assumes zero-mean logits (softmax is shift-invariant anyway).
    """
    check_same_shape(student_logits, teacher_logits)
    student = student_logits.float() - student_logits.float().mean(-1, keepdim=True)
    teacher = teacher_logits.float() - teacher_logits.float().mean(-1, keepdim=True)
    per_prediction = 0.5 * (student - teacher).pow(2).mean(-1)  # (...)
    return masked_mean(per_prediction, mask)


def hard_label_cross_entropy(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CE(y, softmax(z_s)) at T = 1, mean over labelled positions (label -100 = ignored).

    ``F.cross_entropy`` as it is: timed right after a student's forward it was faster than ``log_softmax_last`` +
    ``nll_loss`` in two runs (results/teacher_cache_profile.md), and the plain step that distillation is compared
    with stays what it was.
    """
    num_classes = student_logits.shape[-1]
    return F.cross_entropy(
        at_least_float32(student_logits).reshape(-1, num_classes), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


SOFT_LOSSES = {"kl": kd_kl_divergence, "soft_ce": soft_target_cross_entropy}


def hinton_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None,
    temperature: float,
    alpha: float,
    beta: float,
    soft_loss: str = "kl",
) -> dict[str, torch.Tensor]:
    """α · CE(y, σ(z_s)) + β · T² · KL(σ(z_t/T) ‖ σ(z_s/T)).

    Returns ``{"loss": total, "ce": unweighted CE, "kd": unweighted T²·KL}`` so the loop can log each term.
    ``labels`` may be None (pure soft targets, e.g. an unlabelled transfer set); then α must be 0.
    ``soft_loss``: "kl", "soft_ce" (same gradient) or "mse" (logit matching, the high-temperature limit).
    """
    if soft_loss == "kl" and not teacher_logits.requires_grad and student_logits.dim() == 2:
        check_same_shape(student_logits, teacher_logits)  # (B, C): the short path, from the teacher's log-probs
        return hinton_kd_loss_from_log_probs(student_logits, tempered_log_probs(teacher_logits, temperature), labels,
                                             temperature, alpha, beta)
    mask = None if labels is None or labels.dim() < 2 else labels != IGNORE_INDEX  # sequences: skip padding
    if soft_loss == "mse":
        soft = logit_matching_loss(student_logits, teacher_logits, mask)
    elif soft_loss in SOFT_LOSSES:
        soft = SOFT_LOSSES[soft_loss](student_logits, teacher_logits, temperature, mask)
    else:
        raise ValueError(f"soft_loss must be one of kl, soft_ce, mse; got {soft_loss!r}")
    return weighted_terms(student_logits, soft, labels, alpha, beta)


def weighted_terms(student_logits: torch.Tensor, soft: torch.Tensor, labels: torch.Tensor | None, alpha: float,
                   beta: float) -> dict[str, torch.Tensor]:
    """``{"loss": α · CE(y, σ(z_s)) + β · soft, "ce", "kd"}`` (the last two detached, for logging); no labels: CE 0."""
    if labels is None:
        if alpha != 0:
            raise ValueError("alpha > 0 needs labels; pass labels or set alpha=0")
        hard = torch.zeros((), device=soft.device)
    else:
        hard = hard_label_cross_entropy(student_logits, labels)
    total = beta * soft if alpha == 0 else torch.add(beta * soft, hard, alpha=alpha)  # α·CE + β·KD
    return {"loss": total, "ce": hard.detach(), "kd": soft.detach()}


def hinton_kd_loss_from_log_probs(
    student_logits: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    labels: torch.Tensor | None,
    temperature: float,
    alpha: float,
    beta: float,
) -> dict[str, torch.Tensor]:
    """:func:`hinton_kd_loss` with ``soft_loss="kl"`` for a teacher given as log σ(z_t / T) (..., C), no grad.

    (B, C) logits with valid labels take one autograd node (:class:`~kdistill.losses.soft_targets.HintonObjective`:
    no teacher softmax, the gradient written out); sequences (B, T, V) and ignored labels the composed losses, with
    the masked mean over labelled positions as :func:`hinton_kd_loss`.
    """
    check_same_shape(student_logits, teacher_log_probs)
    check_temperature(temperature)
    if labels is None and alpha != 0:
        raise ValueError("alpha > 0 needs labels; pass labels or set alpha=0")
    if objective_applies(student_logits, labels):
        total, hard, soft = HintonObjective.apply(student_logits, teacher_log_probs, labels, float(temperature),
                                                  float(alpha), float(beta))
        return {"loss": total, "ce": hard, "kd": soft}
    mask = None if labels is None or labels.dim() < 2 else labels != IGNORE_INDEX  # sequences: skip padding
    soft = masked_kd_from_log_probs(student_logits, teacher_log_probs, temperature, mask)
    return weighted_terms(student_logits, soft, labels, alpha, beta)


class HintonKDLoss(nn.Module):
    """Module form of :func:`hinton_kd_loss` holding T, α, β."""

    def __init__(self, temperature: float = 4.0, alpha: float = 0.1, beta: float = 0.9, soft_loss: str = "kl"):
        super().__init__()
        self.temperature, self.alpha, self.beta, self.soft_loss = temperature, alpha, beta, soft_loss

    def forward(self, student_logits, teacher_logits, labels=None) -> dict[str, torch.Tensor]:
        return hinton_kd_loss(
            student_logits, teacher_logits, labels, self.temperature, self.alpha, self.beta, self.soft_loss
        )
