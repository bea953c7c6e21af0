"""The math behind ``token_divergence``: each divergence per token on one support, and its slope ∂D/∂log q.

Inputs are teacher log-probs ℓp and student log-probs ℓq, both (n, S) over the same support S (the vocabulary, or the
teacher's top-k). The slope a = ∂D/∂ℓq gives the gradient with respect to the student's logits z in closed form: for
ℓq = log_softmax(z / T), ∂D/∂z = (a − q · Σa) / T. Writing the gradient out instead of differentiating through the
formula keeps one (n, S) tensor per term rather than autograd's saved graph of them, and does fewer V-wide passes.

    forward_kl        D = Σ p (ℓp − ℓq)                           a = −p
    reverse_kl        D = Σ q (ℓq − ℓp)                           a = q (ℓq − ℓp + 1)
    jsd (0 < β < 1)   D = β Σ p (ℓp − ℓm) + (1−β) Σ q (ℓq − ℓm),  a = (1−β) q (ℓq − ℓm),      m = β p + (1−β) q
    skew_kl           D = Σ p (ℓp − ℓm)                           a = −(1−α) p q / m,           m = α p + (1−α) q
    skew_reverse_kl   D = Σ q (ℓq − ℓm)                           a = q (ℓq − ℓm + 1 − α q / m), m = (1−α) p + α q
    tv                D = ½ Σ |p − q|                             a = ½ sign(q − p) q

(jsd with β = 0 or 1 is forward or reverse KL, as in TRL.) The tests check values against float64 loops and gradients
against float64 autograd through the textbook formulas.
"""

from __future__ import annotations

import math

import torch

_FLOAT32_LOWEST = torch.finfo(torch.float32).min


def finite_(log_probs: torch.Tensor) -> torch.Tensor:
    """In place: -inf log-probs (a logit of -inf) become float32's lowest value - 0 · (−inf) is NaN, 0 · lowest is 0."""
    return log_probs.clamp_min_(_FLOAT32_LOWEST)


def log_mixture(log_a: torch.Tensor, log_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """log(w a + (1 − w) b), stably; w in [0, 1]. Always a new tensor (callers overwrite their inputs)."""
    if weight_a == 0.0:
        return log_b.clone()
    if weight_a == 1.0:
        return log_a.clone()
    return torch.logaddexp(log_a + math.log(weight_a), log_b + math.log1p(-weight_a))


def divergence_and_slope(kind: str, log_p: torch.Tensor, log_q: torch.Tensor, beta: float, skew: float,
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(D per row (n,), a = ∂D/∂ℓq (n, S), q (n, S)) for teacher ``log_p`` and student ``log_q`` on one support.

    Both inputs are consumed - clamped and overwritten in place (callers pass freshly computed log-probs) - to save
    V-wide allocations: each pass over a (chunk, V) tensor costs about as much as one of the next-token loss's.
    """
    log_p, log_q = finite_(log_p), finite_(log_q)
    if kind == "forward_kl" or (kind == "jsd" and beta == 0.0):
        p = log_p.exp()
        value = log_p.sub_(log_q).mul_(p).sum(-1)
        return value, p.neg_(), log_q.exp_()
    q = log_q.exp()
    if kind == "reverse_kl" or (kind == "jsd" and beta == 1.0):
        log_ratio = log_q.sub_(log_p)
        return (q * log_ratio).sum(-1), log_ratio.add_(1.0).mul_(q), q
    if kind == "skew_reverse_kl":
        log_ratio = log_q.sub_(log_mixture(log_q, log_p, skew))  # ℓq − ℓm, m = α q + (1−α) p
        value = (q * log_ratio).sum(-1)
        return value, log_ratio.exp().mul_(-skew).add_(log_ratio).add_(1.0).mul_(q), q
    p = log_p.exp()
    if kind == "jsd":
        log_m = log_mixture(log_p, log_q, beta)
        student_term = log_q.sub_(log_m).mul_(q)
        value = beta * log_p.sub_(log_m).mul_(p).sum(-1) + (1.0 - beta) * student_term.sum(-1)
        return value, student_term.mul_(1.0 - beta), q
    if kind == "skew_kl":
        log_m = log_mixture(log_p, log_q, skew)
        slope = log_q.sub_(log_m).exp_().mul_(p).mul_(skew - 1.0)  # −(1−α) p q / m
        return log_p.sub_(log_m).mul_(p).sum(-1), slope, q
    difference = q - p  # tv
    return 0.5 * difference.abs().sum(-1), difference.sign_().mul_(q).mul_(0.5), q


def logit_gradient(slope: torch.Tensor, q: torch.Tensor, temperature: float, factor: float = 1.0) -> torch.Tensor:
    """factor · ∂D/∂z = factor · (a − q · Σa) / T for q = softmax(z / T): (n, S) -> (n, S); ``q`` is overwritten."""
    return q.mul_(-slope.sum(-1, keepdim=True)).add_(slope).mul_(factor / temperature)
