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


def finite(log_probs: torch.Tensor) -> torch.Tensor:
    """-inf log-probs (a logit of -inf) become float32's lowest value: 0 · (−inf) would be NaN, 0 · lowest is 0."""
    return log_probs.clamp_min(_FLOAT32_LOWEST)


def log_mixture(log_a: torch.Tensor, log_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """log(w a + (1 − w) b), stably; w in [0, 1]."""
    if weight_a == 0.0:
        return log_b
    if weight_a == 1.0:
        return log_a
    return torch.logaddexp(log_a + math.log(weight_a), log_b + math.log1p(-weight_a))


def divergence_and_slope(kind: str, log_p: torch.Tensor, log_q: torch.Tensor, beta: float, skew: float,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(D per row (n,), a = ∂D/∂ℓq (n, S)) for teacher ``log_p`` and student ``log_q`` on one support (n, S)."""
    log_p, log_q = finite(log_p), finite(log_q)
    p, q = log_p.exp(), log_q.exp()
    if kind == "forward_kl" or (kind == "jsd" and beta == 0.0):
        return (p * (log_p - log_q)).sum(-1), -p
    if kind == "reverse_kl" or (kind == "jsd" and beta == 1.0):
        log_ratio = log_q - log_p
        return (q * log_ratio).sum(-1), q * (log_ratio + 1.0)
    if kind == "jsd":
        log_m = log_mixture(log_p, log_q, beta)
        student_term = q * (log_q - log_m)
        value = beta * (p * (log_p - log_m)).sum(-1) + (1.0 - beta) * student_term.sum(-1)
        return value, (1.0 - beta) * student_term
    if kind == "skew_kl":
        log_m = log_mixture(log_p, log_q, skew)
        return (p * (log_p - log_m)).sum(-1), -(1.0 - skew) * p * (log_q - log_m).exp()
    if kind == "skew_reverse_kl":
        log_ratio = log_q - log_mixture(log_q, log_p, skew)
        return (q * log_ratio).sum(-1), q * (log_ratio + 1.0 - skew * log_ratio.exp())
    difference = q - p  # tv
    return 0.5 * difference.abs().sum(-1), 0.5 * difference.sign() * q


def logit_gradient(slope: torch.Tensor, log_q: torch.Tensor, temperature: float) -> torch.Tensor:
    """∂D/∂z = (a − q · Σa) / T for ℓq = log_softmax(z / T): (n, S) slope and log-probs -> (n, S)."""
    gradient = slope - log_q.exp() * slope.sum(-1, keepdim=True)
    return gradient if temperature == 1.0 else gradient / temperature
