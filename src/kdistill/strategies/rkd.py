"""Relational knowledge distillation (Park, Kim, Lu & Cho 2019, "Relational Knowledge Distillation", CVPR).

The student matches the *structure* of the teacher's embedding space rather than the embeddings: on pooled (B, D)
embeddings of the paired layers,

- distance-wise: ψ_D(t_i, t_j) = ‖t_i − t_j‖₂ / μ with μ the mean distance over pairs i ≠ j;
  L_D = mean_{i,j} Huber(ψ_D(s_i, s_j), ψ_D(t_i, t_j));
- angle-wise: ψ_A(t_i, t_j, t_k) = ⟨e_ij, e_kj⟩ with e_ij = (t_i − t_j) / ‖t_i − t_j‖;
  L_A = mean_{i,j,k} Huber(ψ_A(s), ψ_A(t));

    L_RKD = distance_weight · L_D + angle_weight · L_A        (paper: 25 and 50; Huber = smooth L1 with δ = 1)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.arguments import Temperature, Weight
from kdistill.batch import Batch
from kdistill.features import resolve_layer_pairs
from kdistill.features.matching import LayerSpec
from kdistill.strategies.features_common import FeatureDistillation, feature_model, pooled
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def pairwise_distances(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, D) -> (B, B) Euclidean distances, zero diagonal (clamped before the sqrt so the gradient stays finite)."""
    squared = embeddings.pow(2).sum(1)  # (B,)
    distances = (squared[:, None] + squared[None, :] - 2 * embeddings @ embeddings.t()).clamp_min(eps).sqrt()
    return distances * (1 - torch.eye(len(embeddings), device=embeddings.device, dtype=embeddings.dtype))


def rkd_distance_loss(student_embeddings: torch.Tensor, teacher_embeddings: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 between mean-normalised pairwise distances; inputs (B, D_s), (B, D_t)."""
    def normalised(embeddings: torch.Tensor) -> torch.Tensor:
        distances = pairwise_distances(embeddings.float())
        return distances / distances[distances > 0].mean()

    return F.smooth_l1_loss(normalised(student_embeddings), normalised(teacher_embeddings))


def rkd_angle_loss(student_embeddings: torch.Tensor, teacher_embeddings: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 between cosines of the angles at every vertex j of every triplet (i, j, k); B³ terms."""
    def cosines(embeddings: torch.Tensor) -> torch.Tensor:
        embeddings = embeddings.float()
        directions = F.normalize(embeddings[None, :, :] - embeddings[:, None, :], p=2, dim=2)  # (B, B, D): e_ji
        return torch.bmm(directions, directions.transpose(1, 2)).flatten()  # (B·B·B,)

    return F.smooth_l1_loss(cosines(student_embeddings), cosines(teacher_embeddings))


class RKDLoss(nn.Module):
    """distance_weight · L_D + angle_weight · L_A, summed over layer pairs; logs both parts unweighted."""

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0):
        super().__init__()
        self.distance_weight, self.angle_weight = distance_weight, angle_weight

    def forward(self, student_features: list, teacher_features: list, batch: Batch) -> dict[str, torch.Tensor]:
        distance = torch.stack([rkd_distance_loss(pooled(s), pooled(t))
                                for s, t in zip(student_features, teacher_features)]).sum()
        angle = torch.stack([rkd_angle_loss(pooled(s), pooled(t))
                             for s, t in zip(student_features, teacher_features)]).sum()
        total = self.distance_weight * distance + self.angle_weight * angle
        return {"rkd": total, "rkd_distance": distance, "rkd_angle": angle}


@register_method("rkd", reads_features=True, search_space={"feature_weight": ("log", 0.1, 10.0)})
def rkd(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    layers: LayerSpec = "last",
    distance_weight: Weight = 25.0,
    angle_weight: Weight = 50.0,
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 1.0,
    temperature: Temperature = 4.0,
) -> FeatureDistillation:
    """Relational KD (Park et al. 2019): match normalised pairwise distances and triplet angles of embeddings."""
    teacher_model = feature_model(teacher, "rkd")
    pairs = resolve_layer_pairs(layers, student, teacher_model)
    return FeatureDistillation(teacher, teacher_model, pairs, RKDLoss(distance_weight, angle_weight), "rkd",
                               ce_weight, kd_weight, feature_weight, temperature)
