"""Attention-map loss (TinyBERT's L_attn): match each head's attention over real tokens.

Scores are rebuilt from a layer's query and key projections, ``A = Q K^T / sqrt(d_head)`` per head - the pre-softmax
scores TinyBERT distils (its code read them after the mask was added and zeroed entries <= -100, i.e. dropped masked
pairs, as here). Two targets:

- ``scores``: L = mean over heads and valid (query, key) pairs of (A^S − A^T)²  (TinyBERT);
- ``probs``: softmax over the real keys, L = mean over heads and real queries of KL(P^T_row ‖ P^S_row) (MiniLM-style).

A pair (i, j) is valid when both tokens are real, so padding never contributes. Heads are matched one to one; with
``heads="mean"`` the maps are averaged over heads first (for a student with another head count).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from kdistill.errors import ShapeError
from kdistill.losses.reduction import masked_mean

ATTENTION_TARGETS = ("scores", "probs")


def attention_scores(query: torch.Tensor, key: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H) query and key projections -> (B, heads, T, T) scaled dot-product scores, float32."""
    batch, steps, width = query.shape
    if width % heads:
        raise ShapeError(f"projection width {width} is not a multiple of {heads} heads")
    q = query.float().view(batch, steps, heads, width // heads).transpose(1, 2)  # (B, h, T, d)
    k = key.float().view(batch, steps, heads, width // heads).transpose(1, 2)
    return q @ k.transpose(-1, -2) / math.sqrt(width // heads)  # (B, h, T, T)


def pair_mask(mask: torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor:
    """(B, T) token mask -> (B, 1, T, T) bool: both the query and the key are real tokens."""
    if mask is None:
        return torch.ones(scores.shape[0], 1, *scores.shape[-2:], dtype=torch.bool, device=scores.device)
    if tuple(mask.shape) != (scores.shape[0], scores.shape[-1]):
        raise ShapeError(f"attention mask {tuple(mask.shape)} does not match attention maps {tuple(scores.shape)}")
    real = mask.ne(0)
    return (real[:, :, None] & real[:, None, :])[:, None]


def attention_map_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor, mask: torch.Tensor | None = None,
                       target: str = "scores", heads: str = "per-head") -> torch.Tensor:
    """(B, h, T, T) student and teacher scores, (B, T) mask -> scalar float32 (see the module docstring)."""
    if target not in ATTENTION_TARGETS:
        raise ShapeError(f"attention target must be one of {', '.join(ATTENTION_TARGETS)}; got {target!r}")
    if heads == "mean":
        student_scores, teacher_scores = student_scores.mean(1, keepdim=True), teacher_scores.mean(1, keepdim=True)
    if student_scores.shape != teacher_scores.shape:
        raise ShapeError(f"student attention maps {tuple(student_scores.shape)} and teacher's "
                         f"{tuple(teacher_scores.shape)} differ; give the student the teacher's head count or "
                         "compare head-averaged maps (attention_heads: mean)")
    valid = pair_mask(mask, student_scores).expand_as(student_scores)  # (B, h, T, T)
    student_scores, teacher_scores = student_scores.float(), teacher_scores.float()
    if target == "scores":
        return masked_mean((student_scores - teacher_scores).pow(2), valid)
    # probabilities over real keys: a padded key gets the most negative float (not -inf: a row of -inf would give
    # NaN gradients), and padded query rows are dropped below
    blocked = ~valid
    lowest = torch.finfo(torch.float32).min
    student_log = F.log_softmax(student_scores.masked_fill(blocked, lowest), dim=-1)
    teacher_log = F.log_softmax(teacher_scores.masked_fill(blocked, lowest), dim=-1)
    terms = (teacher_log.exp() * (teacher_log - student_log)).masked_fill(blocked, 0.0)  # (B, h, T, T)
    real_rows = valid.any(-1)  # (B, h, T): queries that are real tokens
    return masked_mean(terms.sum(-1), real_rows)
