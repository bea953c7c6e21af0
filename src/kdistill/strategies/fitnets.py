"""FitNets hints (Romero, Ballas, Kahou, Chassang, Gatta & Bengio 2015, "FitNets: Hints for Thin Deep Nets", ICLR).

A student ("guided") layer is trained to predict a teacher ("hint") layer through a learnable regressor r:

    L_hint = mean_{b, c, h, w} (r(F_s) − F_t)²        summed over layer pairs

The regressor is a connector (1x1 conv + BN for maps, linear for vectors) owned by this method: trained with the
student, checkpointed, and absent from the exported student. ``connector``: ``always`` (the paper's regressor, the
default), ``auto`` (only when shapes differ), ``none`` (shapes must match).

Schedule: by default the hint is added to the classification loss throughout (RepDistiller's table uses β = 100; our
default 10 keeps the hint from outweighing the labels ~450x on MNIST: benchmarks/results/method_defaults.md).
The paper's two stages are ``hint_steps > 0``: for the first ``hint_steps`` training steps the loss is the hint alone
(only the layers up to the guided one, plus the regressor, receive gradient), then ce_weight·CE + kd_weight·KD
without the hint (the paper used KD in stage 2: set kd_weight > 0). The step count is a buffer, so it is checkpointed.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.arguments import NonNegativeInt, OneOf, Temperature, Weight
from kdistill.batch import Batch
from kdistill.errors import ConfigError
from kdistill.features import build_connector, resolve_layer_pairs
from kdistill.features.matching import LayerPairs, LayerSpec
from kdistill.strategies.features_common import (
    TeacherSide,
    feature_model,
    logit_terms,
    probe_features,
    run_with_features,
    weighted_step,
)
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


def hint_loss(regressed_student: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """Element-mean squared error between r(F_s) and F_t (same shape); scalar, float32."""
    return F.mse_loss(regressed_student.float(), teacher_features.float())


class FitNetsStrategy(nn.Module):
    """Hint loss through per-pair regressors, combined with CE (and optionally Hinton KD)."""

    def __init__(
        self,
        teacher: Teacher,
        teacher_model: TeacherSide,
        pairs: LayerPairs,
        connectors: list[nn.Module],
        ce_weight: float,
        kd_weight: float,
        feature_weight: float,
        temperature: float,
        hint_steps: int,
    ):
        super().__init__()
        self.teacher = teacher
        self.teacher_model = [teacher_model]  # not a submodule: the teacher's weights stay out of the state
        self.pairs = list(pairs)
        self.connectors = nn.ModuleList(connectors)
        self.ce_weight, self.kd_weight, self.feature_weight = ce_weight, kd_weight, feature_weight
        self.temperature, self.hint_steps = temperature, hint_steps
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        tapped = run_with_features(self.teacher, self.teacher_model[0], student, batch, self.pairs)
        hint = torch.stack([
            hint_loss(connector(s), t)
            for connector, s, t in zip(self.connectors, tapped.student_features, tapped.teacher_features)
        ]).sum()
        terms = logit_terms(tapped.student_logits, tapped.teacher_logits, batch.get("labels"), self.ce_weight,
                            self.kd_weight, self.temperature)
        if self.hint_steps > 0:
            stage_one = bool(self.steps_done < self.hint_steps)
            terms = {name: (0.0 if stage_one else weight, value) for name, (weight, value) in terms.items()}
            terms["hint"] = (self.feature_weight if stage_one else 0.0, hint)
        else:
            terms["hint"] = (self.feature_weight, hint)
        if self.training:
            self.steps_done += 1
        return weighted_step(tapped.student_logits, terms)


@register_method("fitnets", reads_features=True, search_space={"feature_weight": ("log", 1.0, 1000.0)})
def fitnets(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    example_batch: Batch | None = None,
    layers: LayerSpec = "middle",
    connector: Annotated[str, OneOf(("always", "auto", "none"))] = "always",
    ce_weight: Weight = 1.0,
    kd_weight: Weight = 0.0,
    feature_weight: Weight = 10.0,
    temperature: Temperature = 4.0,
    hint_steps: NonNegativeInt = 0,
) -> FitNetsStrategy:
    """FitNets (Romero et al. 2015): regress a teacher hint layer from a student layer; optional two-stage schedule."""
    teacher_model = feature_model(teacher, "fitnets")
    pairs = resolve_layer_pairs(layers, student, teacher_model)
    if hint_steps < 0:
        raise ConfigError(f"hint_steps must be >= 0, got {hint_steps}")
    probe = probe_features(teacher, teacher_model, student, example_batch, pairs, "fitnets")
    connectors = [build_connector(s.shape[1:], t.shape[1:], connector)
                  for s, t in zip(probe.student_features, probe.teacher_features)]
    return FitNetsStrategy(teacher, teacher_model, pairs, connectors, ce_weight, kd_weight, feature_weight,
                           temperature, hint_steps)
