"""Glue shared by the feature-distillation methods: teacher feature access, one tapped forward pass of teacher and
student, build-time shape probing, and the explicit weighted step dict.

The teacher's features come from hooks on its network (a live teacher) or from the features a teacher cache stores
(a :class:`~kdistill.cache.CachedTeacher`, whose cache lists the layers in ``distill.cache.features``): with a cache
the teacher never runs during distillation, feature methods included.

Every method's total is ``ce_weight · CE(y, σ(z_s)) + kd_weight · T²·KL(σ(z_t/T) ‖ σ(z_s/T)) + feature_weight · L``
where L is the method's own term; each unweighted term is logged under its name (``ce``, ``kd``, ``at``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from kdistill.batch import Batch, forward_model
from kdistill.errors import ConfigError
from kdistill.features import FeatureTaps
from kdistill.features.matching import LayerPairs, StoredLayers
from kdistill.losses import hard_label_cross_entropy, kd_kl_divergence
from kdistill.strategies.spec import methods_where
from kdistill.teachers import Teacher

TeacherSide = nn.Module | StoredLayers  # the network to tap, or the layers a teacher cache stores


def stored_features(teacher: Teacher) -> StoredLayers | None:
    """The layers a cached teacher stores (None for a teacher that is not backed by a cache)."""
    cache = getattr(teacher, "cache", None)
    if callable(getattr(teacher, "features", None)) and cache is not None:
        return StoredLayers(tuple(cache.features))
    return None


def feature_model(teacher: Teacher | None, method: str) -> TeacherSide:
    """Where the teacher's features come from: the network inside ``teacher`` whose modules can be tapped
    (``FrozenTeacher.model``, also under a class subset), or the layers stored by a cached teacher."""
    if teacher is None:
        raise ConfigError(f"method '{method}' needs a teacher")
    stored = stored_features(teacher)
    if stored is not None:
        return stored
    inner: nn.Module = teacher
    while not isinstance(getattr(inner, "model", None), nn.Module) and isinstance(getattr(inner, "teacher", None),
                                                                                  nn.Module):
        inner = inner.teacher  # e.g. ClassSubsetTeacher(FrozenTeacher(model))
    model = getattr(inner, "model", None)
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"method '{method}' reads the teacher's intermediate features, which needs a single network teacher "
            f"(FrozenTeacher with .model) or a CachedTeacher storing features; got {type(teacher).__name__}. "
            f"Feature methods: {', '.join(methods_where(reads_features=True))}; with ensembles or precomputed outputs use "
            "hinton or dkd"
        )
    return model


@dataclass
class TappedOutputs:
    student_logits: torch.Tensor  # (B, C)
    teacher_logits: torch.Tensor  # (B, C), no graph
    student_features: list[torch.Tensor]  # one per layer pair, with graph
    teacher_features: list[torch.Tensor]  # one per layer pair, detached


def run_with_features(
    teacher: Teacher, teacher_model: TeacherSide, student: nn.Module, batch: Batch, pairs: LayerPairs
) -> TappedOutputs:
    """Teacher (its own frozen eval mode, no grad; or cache lookups) and student forward passes, capturing the paired
    layers."""
    if isinstance(teacher_model, StoredLayers):
        teacher_logits = teacher(batch)
        teacher_by_name = teacher.features(batch, names=[t for _, t in pairs])
    else:
        with FeatureTaps(teacher_model, [t for _, t in pairs]) as taps:
            teacher_logits = teacher(batch)  # Teacher.forward: no_grad, eval forever
            teacher_by_name = taps.read()
    with FeatureTaps(student, [s for s, _ in pairs]) as taps:
        student_logits = forward_model(student, batch)
        student_by_name = taps.read()
    return TappedOutputs(
        student_logits,
        teacher_logits,
        [student_by_name[s] for s, _ in pairs],
        [teacher_by_name[t].detach() for _, t in pairs],
    )


def probe_features(
    teacher: Teacher, teacher_model: TeacherSide, student: nn.Module, example_batch: Batch | None, pairs: LayerPairs,
    method: str,
) -> TappedOutputs:
    """One no-grad eval-mode pass on the example batch, to size connectors before the optimizer is built."""
    if example_batch is None:
        raise ConfigError(f"method '{method}' sizes its layers from one example batch; pass context "
                          "{'example_batch': batch} to build_strategy")
    was_training = student.training
    student.eval()
    try:
        with torch.no_grad():
            return run_with_features(teacher, teacher_model, student, example_batch, pairs)
    finally:
        student.train(was_training)


def logit_terms(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None,
    ce_weight: float,
    kd_weight: float,
    temperature: float,
) -> dict[str, tuple[float, torch.Tensor]]:
    """``{"ce": (ce_weight, CE)}`` (when labels are given) and ``{"kd": (kd_weight, T²·KL)}`` (when kd_weight > 0)."""
    terms: dict[str, tuple[float, torch.Tensor]] = {}
    if labels is not None:
        terms["ce"] = (ce_weight, hard_label_cross_entropy(student_logits, labels))
    elif ce_weight:
        raise ConfigError("ce_weight > 0 needs labelled batches; set ce_weight: 0 for an unlabelled transfer set")
    if kd_weight:
        terms["kd"] = (kd_weight, kd_kl_divergence(student_logits, teacher_logits, temperature))
    return terms


def weighted_step(
    output: torch.Tensor, terms: Mapping[str, tuple[float, torch.Tensor]], logs: Mapping[str, torch.Tensor] = {}
) -> dict[str, torch.Tensor]:
    """The step contract: ``{"loss": Σ weight·term, "output": logits, name: unweighted detached term, ...}``."""
    loss = sum((weight * value for weight, value in terms.values() if weight), torch.zeros((), device=output.device))
    step = {"loss": loss, "output": output}
    step.update({name: value.detach() for name, (_, value) in terms.items()})
    step.update({name: value.detach() for name, value in logs.items()})
    return step


def pooled(features: torch.Tensor) -> torch.Tensor:
    """A per-sample vector: global average pool of maps (B, C, H, W) -> (B, C); other shapes flattened to (B, D)."""
    if features.dim() == 4:
        return features.float().mean(dim=(2, 3))
    return features.float().flatten(1)


class FeatureDistillation(nn.Module):
    """Logit terms plus one feature criterion on tapped layer pairs; the criterion owns any learnable parts.

    ``criterion(student_features, teacher_features, batch)`` returns ``{term: unweighted loss, sub-terms...}``.
    """

    def __init__(
        self,
        teacher: Teacher,
        teacher_model: TeacherSide,
        pairs: LayerPairs,
        criterion: nn.Module,
        term: str,
        ce_weight: float,
        kd_weight: float,
        feature_weight: float,
        temperature: float,
    ):
        super().__init__()
        self.teacher = teacher
        self.teacher_model = [teacher_model]  # a list, not a submodule: the teacher's weights stay out of the state
        self.pairs = list(pairs)
        self.criterion = criterion
        self.term = term
        self.ce_weight, self.kd_weight, self.feature_weight = ce_weight, kd_weight, feature_weight
        self.temperature = temperature

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        tapped = run_with_features(self.teacher, self.teacher_model[0], student, batch, self.pairs)
        feature_terms = self.criterion(tapped.student_features, tapped.teacher_features, batch)
        terms = logit_terms(tapped.student_logits, tapped.teacher_logits, batch.get("labels"), self.ce_weight,
                            self.kd_weight, self.temperature)
        terms[self.term] = (self.feature_weight, feature_terms.pop(self.term))
        return weighted_step(tapped.student_logits, terms, feature_terms)
