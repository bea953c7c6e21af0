"""Teacher ensemble -> one student (Hinton et al. 2015, section 4, the speech result: baseline 58.9%, ensemble of 10
61.1%, distilled single model 60.8% frame accuracy).

N members of one architecture are trained from different seeds; their tempered probabilities (or logits) are
averaged by :class:`~kdistill.teachers.EnsembleTeacher`, optionally weighted; a single student of the members'
architecture is distilled from the ensemble. With ``jitter`` > 0 the members train on randomly shifted images and the
student is distilled on shifted views too, the ensemble queried on the very view the student sees (the "consistent
teaching" of Beyer et al. 2022): the transfer set then probes the ensemble off its own training points, where its soft
targets say more than the labels. The figure of merit is how much of the ensemble's gain over a single
model the student recovers: (student - mean member) / (ensemble - mean member).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from kdistill.procedures.common import (
    ModelSpec,
    Splits,
    TeacherAsModel,
    accuracy_on,
    build_seeded_model,
    distill_model,
    eval_loader,
    fit_model,
    train_loader,
)
from kdistill.procedures.registry import PROCEDURES
from kdistill.teachers import EnsembleTeacher, FrozenTeacher

MIN_MEMBERS = 5


@PROCEDURES.register("ensemble")
def ensemble_experiment(
    splits: Splits,
    model: ModelSpec,
    train: Mapping[str, Any],
    members: int = 5,
    combine: str = "probs",
    weights: Sequence[float] | None = None,
    temperature: float = 4.0,
    ce_weight: float = 0.1,
    kd_weight: float = 0.9,
    distill_train: Mapping[str, Any] | None = None,
    jitter: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Ensemble of >= 5 models vs each single model vs one student distilled from the ensemble.

    ``distill_train`` overrides ``train`` for the student (e.g. a longer schedule); ``jitter`` is the largest random
    shift in pixels of the members' and the student's training images (0: none).
    """
    if members < MIN_MEMBERS:
        raise ValueError(f"the ensemble experiment needs at least {MIN_MEMBERS} members; got {members}")
    trained = []
    for index in range(members):
        member_seed = 1000 * seed + index
        network = build_seeded_model(model, splits.input_shape, splits.num_classes, member_seed)
        fit_model(network, splits.train_images, splits.train_labels, splits, train, member_seed, max_shift=jitter)
        trained.append(network)
    member_accuracy = [accuracy_on(m, splits.test_images, splits.test_labels) for m in trained]
    member_train_accuracy = [accuracy_on(m, splits.train_images, splits.train_labels) for m in trained]
    # the ensemble is judged at T = 1 (its predictions), and distilled at the loss's temperature
    judged = EnsembleTeacher([FrozenTeacher(m) for m in trained], combine=combine, temperature=1.0, weights=weights)
    ensemble_accuracy = accuracy_on(TeacherAsModel(judged), splits.test_images, splits.test_labels)
    teacher = EnsembleTeacher([FrozenTeacher(m) for m in trained], combine=combine, temperature=temperature,
                              weights=weights)
    student_seed = 1000 * seed + 999
    student = build_seeded_model(model, splits.input_shape, splits.num_classes, student_seed)
    options = dict(distill_train or train)
    # the loader shifts the image before the batch reaches the loss, so teacher and student see the same view
    transfer = train_loader(splits.train_images, splits.train_labels, options, student_seed, max_shift=jitter)
    distill_model(teacher, student, transfer,
                  eval_loader(splits.val_images, splits.val_labels), options, student_seed,
                  temperature=temperature, ce_weight=ce_weight, kd_weight=kd_weight)
    student_accuracy = accuracy_on(student, splits.test_images, splits.test_labels)
    single = statistics.fmean(member_accuracy)
    gain = ensemble_accuracy - single
    control = {}
    if distill_train is not None:
        # a longer student schedule is a gain of its own: the same student trained on it from labels alone tells
        # how much of the distilled student's accuracy comes from the ensemble
        alone = build_seeded_model(model, splits.input_shape, splits.num_classes, student_seed)
        fit_model(alone, splits.train_images, splits.train_labels, splits, options, student_seed, max_shift=jitter)
        control = {"student_alone_accuracy": accuracy_on(alone, splits.test_images, splits.test_labels)}
    return {
        "members": members,
        "member_accuracy": member_accuracy,
        "member_train_accuracy": member_train_accuracy,
        "single_mean_accuracy": single,
        "ensemble_accuracy": ensemble_accuracy,
        "distilled_accuracy": student_accuracy,
        "gain_recovered": (student_accuracy - single) / gain if gain > 0 else float("nan"),
        **control,
    }
