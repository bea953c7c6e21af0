"""Contrastive representation distillation (Tian, Krishnan & Isola 2020, "Contrastive Representation Distillation",
ICLR).

Student and teacher penultimate features are embedded by learnable heads g_s, g_t (linear + L2 norm, 128-d), and a
noise-contrastive estimator learns to tell the pair (g_s(x_i), g_t(x_i)) from pairs with K other samples. As in the
paper's code, the "other samples" come from two memory banks (one per side) holding a momentum average of every
training sample's embedding: the bank has ``num_samples`` rows (the training-set size, from the build context), is
indexed by ``batch["index"]``, and is a buffer, so it is saved with the run's checkpoints. With P_n = 1/N:

    h(v, m) = exp(⟨v, m⟩ / τ) / Z        (Z fixed from the first batch: mean(exp(·/τ)) · N)
    L_NCE  = −(1/B) Σ_i [ log(h_i⁺ / (h_i⁺ + K·P_n)) + Σ_k log(K·P_n / (h_ik + K·P_n)) ]
    L_CRD  = L_NCE(student anchors vs teacher bank) + L_NCE(teacher anchors vs student bank)

Paper defaults: K = 16384, τ = 0.07, momentum 0.5, β = 0.8. Scaled down here: K = min(nce_k, N − 1) with
nce_k = 4096 by default, and the K negatives are drawn once per step and shared by the batch (MoCo-style; the paper
draws per sample): the gather is (K, 128) instead of (B, K, 128), which is what makes it affordable on a CPU.
Under DDP each rank keeps its own banks (not synchronised).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.arguments import Fraction, Positive, PositiveInt, Temperature, Weight
from kdistill.batch import Batch
from kdistill.errors import ConfigError, ShapeError
from kdistill.features import resolve_layer_pairs
from kdistill.features.matching import LayerSpec
from kdistill.strategies.features_common import (
    FeatureDistillation,
    feature_model,
    pooled,
    probe_features,
)
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher

NCE_EPS = 1e-7


def nce_loss(scores: torch.Tensor, num_samples: int, eps: float = NCE_EPS) -> torch.Tensor:
    """Binary NCE on (B, 1 + K) normalised scores h (column 0 the positive), noise P_n = 1/N; scalar."""
    negatives = scores.shape[1] - 1
    noise = negatives / num_samples  # K · P_n
    log_positive = torch.log(scores[:, 0] / (scores[:, 0] + noise + eps))
    log_negative = torch.log(noise / (scores[:, 1:] + noise + eps))
    return -(log_positive.sum() + log_negative.sum()) / scores.shape[0]


class Embed(nn.Module):
    """(B, D) -> (B, embed_dim): linear, then L2 normalisation."""

    def __init__(self, in_dim: int, embed_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, embed_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(features), dim=1)


class CRDLoss(nn.Module):
    """Embedding heads + two momentum memory banks + NCE, on the pooled features of one layer pair."""

    def __init__(self, student_dim: int, teacher_dim: int, num_samples: int, embed_dim: int = 128,
                 nce_k: int = 4096, nce_t: float = 0.07, momentum: float = 0.5):
        super().__init__()
        self.embed_student = Embed(student_dim, embed_dim)
        self.embed_teacher = Embed(teacher_dim, embed_dim)
        self.num_samples, self.nce_k, self.nce_t, self.momentum = num_samples, nce_k, nce_t, momentum
        bound = 1.0 / math.sqrt(embed_dim / 3)  # the paper code's initialisation of the banks
        self.register_buffer("memory_student", torch.rand(num_samples, embed_dim) * 2 * bound - bound)
        self.register_buffer("memory_teacher", torch.rand(num_samples, embed_dim) * 2 * bound - bound)
        self.register_buffer("normalizers", torch.full((2,), -1.0))  # Z for (student, teacher) anchors; -1 = unset

    def scores(self, anchors: torch.Tensor, memory: torch.Tensor, index: torch.Tensor,
               negatives: torch.Tensor, side: int) -> torch.Tensor:
        """(B, 1 + K) normalised scores exp(⟨v, m⟩/τ)/Z of anchors against their own and the K negative rows."""
        positive = (anchors * memory[index]).sum(1, keepdim=True)  # (B, 1)
        negative = anchors @ memory[negatives].t()  # (B, K)
        raw = torch.exp(torch.cat([positive, negative], dim=1) / self.nce_t)
        if self.normalizers[side] < 0:  # fixed once from the first batch, as in the paper code
            self.normalizers[side] = raw.detach().mean() * self.num_samples
        return raw / self.normalizers[side].clone()  # a copy: the buffer is written in place later

    def forward(self, student_features: list, teacher_features: list, batch: Batch) -> dict[str, torch.Tensor]:
        index = batch.get("index")
        if index is None:
            raise ShapeError("crd needs batch['index'] (sample ids into the training set) to address its memory "
                             "bank; use kdistill's ArrayLoader or add the ids to each batch")
        if int(index.max()) >= self.num_samples:
            raise ShapeError(f"batch index {int(index.max())} is outside crd's memory bank of {self.num_samples} "
                             "samples; build the strategy with num_samples = the training-set size")
        student_embedding = self.embed_student(pooled(student_features[-1]))  # (B, E)
        teacher_embedding = self.embed_teacher(pooled(teacher_features[-1]))  # (B, E)
        negatives = torch.randint(self.num_samples, (self.nce_k,), device=index.device)  # shared by the batch
        loss_student = nce_loss(self.scores(student_embedding, self.memory_teacher, index, negatives, 0),
                                self.num_samples)
        loss_teacher = nce_loss(self.scores(teacher_embedding, self.memory_student, index, negatives, 1),
                                self.num_samples)
        if self.training:
            self.update_memory(index, student_embedding.detach(), teacher_embedding.detach())
        return {"crd": loss_student + loss_teacher}

    @torch.no_grad()
    def update_memory(self, index: torch.Tensor, student: torch.Tensor, teacher: torch.Tensor) -> None:
        """m_i <- normalise(momentum · m_i + (1 − momentum) · v_i) for the batch's samples."""
        for memory, embedding in ((self.memory_student, student), (self.memory_teacher, teacher)):
            mixed = memory[index] * self.momentum + embedding.float() * (1 - self.momentum)
            memory[index] = F.normalize(mixed, dim=1)


@register_method("crd", reads_features=True, needs_index=True, search_space={"feature_weight": ("log", 0.1, 8.0)})
def crd(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    example_batch: Batch | None = None,
    num_samples: int | None = None,
    layers: LayerSpec = "last",
    embed_dim: PositiveInt = 128,
    nce_k: PositiveInt = 4096,
    nce_t: Positive = 0.07,
    momentum: Fraction = 0.5,
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 0.8,
    temperature: Temperature = 4.0,
) -> FeatureDistillation:
    """Contrastive representation distillation (Tian et al. 2020): NCE against momentum memory banks."""
    teacher_model = feature_model(teacher, "crd")
    if not num_samples or num_samples < 2:
        raise ConfigError("method 'crd' sizes its memory bank to the training set; pass context "
                          "{'num_samples': len(train_set)} to build_strategy")
    pairs = resolve_layer_pairs(layers, student, teacher_model)
    probe = probe_features(teacher, teacher_model, student, example_batch, pairs, "crd")
    student_dim = pooled(probe.student_features[-1]).shape[1]
    teacher_dim = pooled(probe.teacher_features[-1]).shape[1]
    criterion = CRDLoss(student_dim, teacher_dim, num_samples, embed_dim, min(nce_k, num_samples - 1), nce_t,
                        momentum)
    return FeatureDistillation(teacher, teacher_model, pairs[-1:], criterion, "crd", ce_weight, kd_weight,
                               feature_weight, temperature)
