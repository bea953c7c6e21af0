"""Sentence-embedding distillation: match the teacher's pooled sentence vectors in size and in direction.

    L = mse_weight · mean_{b,d} (s_b W − t_b)²  +  cosine_weight · mean_b (1 − cos(s_b W, t_b))

``s`` is the student's embedding (projected by W when the widths differ), ``t`` the teacher's; embeddings are the
mean of the last hidden states over real tokens (:func:`mean_pool`, the sentence-transformers pooling), so padding
never contributes. Reimers & Gurevych 2020 ("Making Monolingual Sentence Embeddings Multilingual using Knowledge
Distillation") used the MSE term alone; the cosine term is what retrieval by cosine similarity cares about.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdistill.errors import ShapeError


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, H) hidden states, (B, T) mask -> (B, H) mean over real tokens (float32)."""
    hidden = hidden.float()
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.ne(0).unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def embedding_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """(B, D) projected student and teacher embeddings -> mean squared difference, scalar float32."""
    if student.shape != teacher.shape:
        raise ShapeError(f"student embeddings {tuple(student.shape)} and teacher's {tuple(teacher.shape)} differ; "
                         "project the student to the teacher's width")
    return F.mse_loss(student.float(), teacher.float())


def cosine_distance(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """(B, D) embeddings -> mean over the batch of 1 − cosine similarity, scalar float32 in [0, 2]."""
    if student.shape != teacher.shape:
        raise ShapeError(f"student embeddings {tuple(student.shape)} and teacher's {tuple(teacher.shape)} differ")
    return (1.0 - F.cosine_similarity(student.float(), teacher.float(), dim=-1, eps=1e-8)).mean()
