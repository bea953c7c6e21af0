"""Probabilistic knowledge transfer (Passalis & Tefas 2018, "Learning Deep Representations with Probabilistic
Knowledge Transfer", ECCV).

Each sample's cosine similarities to the rest of the batch, mapped to [0, 1] and normalised per row, form a
conditional distribution P(j | i); the student's should match the teacher's (a KL divergence, cosine kernel):

    K_ij = (cos(x_i, x_j) + 1) / 2,   P_ij = K_ij / Σ_j K_ij,   L_PKT = mean_{i,j} P^t_ij · log((P^t_ij + ε) / (P^s_ij + ε))

on the pooled (B, D) embeddings of the paired layers (RepDistiller's form, ε = 1e-7, β = 30000 in the CRD table).
Widths may differ: only (B, B) matrices are compared.
"""

from __future__ import annotations

import torch
from torch import nn

from kdistill.arguments import Temperature, Weight
from kdistill.batch import Batch
from kdistill.features import resolve_layer_pairs
from kdistill.features.matching import LayerSpec
from kdistill.strategies.features_common import FeatureDistillation, feature_model, pooled
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def cosine_conditional(embeddings: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """(B, D) -> (B, B) row-stochastic matrix of (cos + 1) / 2 similarities."""
    unit = embeddings / (embeddings.norm(dim=1, keepdim=True) + eps)
    kernel = (unit @ unit.t() + 1.0) / 2.0
    return kernel / kernel.sum(dim=1, keepdim=True)


def pkt_loss(student_embeddings: torch.Tensor, teacher_embeddings: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Element-mean of P_t·log((P_t + ε)/(P_s + ε)) over the (B, B) conditionals; inputs (B, D_s), (B, D_t)."""
    student_probs = cosine_conditional(student_embeddings.float(), eps)
    teacher_probs = cosine_conditional(teacher_embeddings.float(), eps)
    return (teacher_probs * torch.log((teacher_probs + eps) / (student_probs + eps))).mean()


class PKTLoss(nn.Module):
    """Σ over layer pairs of :func:`pkt_loss` on pooled features."""

    def forward(self, student_features: list, teacher_features: list, batch: Batch) -> dict[str, torch.Tensor]:
        losses = [pkt_loss(pooled(s), pooled(t)) for s, t in zip(student_features, teacher_features)]
        return {"pkt": torch.stack(losses).sum()}


@register_method("pkt", reads_features=True, search_space={"feature_weight": ("log", 3000.0, 100000.0)})
def pkt(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    layers: LayerSpec = "last",
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 30000.0,
    temperature: Temperature = 4.0,
) -> FeatureDistillation:
    """Probabilistic knowledge transfer (Passalis & Tefas 2018): match cosine-similarity conditional distributions."""
    teacher_model = feature_model(teacher, "pkt")
    pairs = resolve_layer_pairs(layers, student, teacher_model)
    return FeatureDistillation(teacher, teacher_model, pairs, PKTLoss(), "pkt", ce_weight, kd_weight, feature_weight,
                               temperature)
