"""Born-Again Networks (Furlanello et al. 2018): generation k, of the same architecture, learns from generation k-1.

Generation 0 learns from labels; each later generation starts from a fresh initialisation and is distilled from a
frozen *copy* of the previous generation's final weights (the previous network itself is never touched again). The
generations can then be ensembled (BAN-ensemble: mean of their probabilities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from kdistill.procedures.common import (
    ModelSpec,
    Splits,
    TeacherAsModel,
    accuracy_on,
    build_seeded_model,
    distill_model,
    eval_loader,
    fit_model,
    frozen_copy,
    train_loader,
)
from kdistill.procedures.registry import PROCEDURES
from kdistill.teachers import EnsembleTeacher, FrozenTeacher


@dataclass
class Generation:
    index: int
    model: nn.Module
    teacher: FrozenTeacher | None  # a frozen copy of generation index-1 (None for generation 0)


def train_generations(splits: Splits, model: ModelSpec, train: Mapping[str, Any], generations: int,
                      temperature: float, ce_weight: float, kd_weight: float, seed: int) -> list[Generation]:
    """Generation 0 from labels, then ``generations`` born-again generations, each taught by the one before."""
    if generations < 1:
        raise ValueError(f"generations must be >= 1; got {generations}")
    first = build_seeded_model(model, splits.input_shape, splits.num_classes, 1000 * seed)
    fit_model(first, splits.train_images, splits.train_labels, splits, train, 1000 * seed)
    trained = [Generation(0, first, None)]
    for index in range(1, generations + 1):
        teacher = FrozenTeacher(frozen_copy(trained[-1].model))  # eval, no grad, its own copy of the weights
        gen_seed = 1000 * seed + index
        student = build_seeded_model(model, splits.input_shape, splits.num_classes, gen_seed)
        distill_model(teacher, student, train_loader(splits.train_images, splits.train_labels, train, gen_seed),
                      eval_loader(splits.val_images, splits.val_labels), train, gen_seed,
                      temperature=temperature, ce_weight=ce_weight, kd_weight=kd_weight)
        trained.append(Generation(index, student, teacher))
    return trained


@PROCEDURES.register("born-again")
def born_again_experiment(
    splits: Splits,
    model: ModelSpec,
    train: Mapping[str, Any],
    generations: int = 2,
    temperature: float = 1.0,
    ce_weight: float = 0.0,
    kd_weight: float = 1.0,
    ensemble_generations: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Born-again generations (defaults: the paper's pure soft-target loss at T = 1) and their ensemble."""
    trained = train_generations(splits, model, train, generations, temperature, ce_weight, kd_weight, seed)
    result: dict[str, Any] = {
        "generation_accuracy": [accuracy_on(g.model, splits.test_images, splits.test_labels) for g in trained],
        # how well each generation fits its training set: a teacher wrong on training images passes its mistakes on
        "generation_train_accuracy": [accuracy_on(g.model, splits.train_images, splits.train_labels) for g in trained],
    }
    if ensemble_generations:
        ensemble = EnsembleTeacher([FrozenTeacher(frozen_copy(g.model)) for g in trained[1:]])
        result["ban_ensemble_accuracy"] = accuracy_on(TeacherAsModel(ensemble), splits.test_images,
                                                      splits.test_labels)
    return result
