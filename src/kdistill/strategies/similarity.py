"""Similarity-preserving KD (Tung & Mori 2019, "Similarity-Preserving Knowledge Distillation", ICCV).

Inputs that the teacher finds similar should be similar for the student. For a paired layer's activations flattened
to Q (B, D), the batch similarity G = Q·Qᵀ (B, B) is L2-normalised row by row, and

    L_SP = Σ_pairs (1 / B²) · ‖G_t − G_s‖_F²

Only (B, B) matrices are compared, so feature widths may differ (no connector). The CRD table used β = 3000.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.arguments import Temperature, Weight
from kdistill.batch import Batch
from kdistill.features import resolve_layer_pairs
from kdistill.features.matching import LayerSpec
from kdistill.strategies.features_common import FeatureDistillation, feature_model
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def similarity_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B, B): row-normalised Q·Qᵀ of the flattened activations."""
    flat = features.float().flatten(1)
    return F.normalize(flat @ flat.t(), dim=1)


def similarity_preserving_loss(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """‖G_t − G_s‖_F² / B² for one layer pair; scalar, float32."""
    batch = student_features.shape[0]
    return (similarity_matrix(teacher_features) - similarity_matrix(student_features)).pow(2).sum() / batch**2


class SimilarityPreservingLoss(nn.Module):
    """Σ over layer pairs of :func:`similarity_preserving_loss`."""

    def forward(self, student_features: list, teacher_features: list, batch: Batch) -> dict[str, torch.Tensor]:
        losses = [similarity_preserving_loss(s, t) for s, t in zip(student_features, teacher_features)]
        return {"sp": torch.stack(losses).sum()}


@register_method("sp", reads_features=True, search_space={"feature_weight": ("log", 300.0, 30000.0)})
def similarity_preserving(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    layers: LayerSpec = "last",
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 3000.0,
    temperature: Temperature = 4.0,
) -> FeatureDistillation:
    """Similarity-preserving KD (Tung & Mori 2019): match row-normalised batch similarity matrices."""
    teacher_model = feature_model(teacher, "sp")
    pairs = resolve_layer_pairs(layers, student, teacher_model)
    return FeatureDistillation(teacher, teacher_model, pairs, SimilarityPreservingLoss(), "sp", ce_weight, kd_weight,
                               feature_weight, temperature)
