"""Attention transfer (Zagoruyko & Komodakis 2017, "Paying More Attention to Attention", ICLR).

The spatial attention map of a (B, C, H, W) activation is Q = mean_c |A_c|^p, flattened to (B, H·W) and L2-normalised
per sample. The student matches the teacher's map at each paired layer:

    L_AT = Σ_pairs mean_{b, hw} (Q_s/‖Q_s‖ − Q_t/‖Q_t‖)²        (p = 2)

This is the form used by RepDistiller (the CRD paper's table, β = 1000); the paper writes β/2 · ‖·‖_2 per sample.
Our default is β = 100: on MNIST's smaller maps 1000 swamps the labels in short runs (71 % vs 92 % for the student
alone; benchmarks/results/method_defaults.md).
Maps of different spatial size are compared after average-pooling the student's map to the teacher's size.
Channel counts may differ: the map averages over channels, so no connector is needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.arguments import Positive, Temperature, Weight
from kdistill.batch import Batch
from kdistill.errors import ShapeError
from kdistill.features import match_spatial, resolve_layer_pairs
from kdistill.features.matching import LayerSpec
from kdistill.strategies.features_common import FeatureDistillation, feature_model
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def attention_map(features: torch.Tensor, p: float = 2.0, size: tuple[int, int] | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, H'·W'): mean over channels of |A|^p, optionally resized to ``size``, L2-normalised."""
    if features.dim() != 4:
        raise ShapeError(f"attention transfer needs (B, C, H, W) feature maps, got {tuple(features.shape)}")
    energy = features.float().abs().pow(p).mean(1, keepdim=True)  # (B, 1, H, W)
    if size is not None:
        energy = match_spatial(energy, size)
    return F.normalize(energy.flatten(1), dim=1)


def attention_transfer_loss(student_features: torch.Tensor, teacher_features: torch.Tensor, p: float = 2.0):
    """mean over (B, H·W) of (Q_s − Q_t)² for one layer pair; scalar, float32."""
    size = tuple(teacher_features.shape[-2:])
    return (attention_map(student_features, p, size) - attention_map(teacher_features, p)).pow(2).mean()


class AttentionTransferLoss(nn.Module):
    """Σ over layer pairs of :func:`attention_transfer_loss`."""

    def __init__(self, p: float = 2.0):
        super().__init__()
        self.p = p

    def forward(self, student_features: list, teacher_features: list, batch: Batch) -> dict[str, torch.Tensor]:
        losses = [attention_transfer_loss(s, t, self.p) for s, t in zip(student_features, teacher_features)]
        return {"at": torch.stack(losses).sum()}


@register_method("at", reads_features=True, search_space={"feature_weight": ("log", 100.0, 3000.0)})
def attention(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    layers: LayerSpec = "uniform",
    p: Positive = 2.0,
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 100.0,
    temperature: Temperature = 4.0,
) -> FeatureDistillation:
    """Attention transfer (Zagoruyko & Komodakis 2017): match normalised spatial attention maps of paired stages."""
    teacher_model = feature_model(teacher, "at")
    pairs = resolve_layer_pairs(layers, student, teacher_model)
    return FeatureDistillation(teacher, teacher_model, pairs, AttentionTransferLoss(p), "at", ce_weight, kd_weight,
                               feature_weight, temperature)
