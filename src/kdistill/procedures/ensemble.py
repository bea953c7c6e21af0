"""Teacher ensemble -> one student (Hinton et al. 2015, section 4, the speech result: baseline 58.9%, ensemble of 10
61.1%, distilled single model 60.8% frame accuracy).

N members are trained; their tempered probabilities (or logits) are averaged by
:class:`~kdistill.teachers.EnsembleTeacher`, optionally weighted; a single student of architecture ``model`` is
distilled from the ensemble. By default the members are ``model`` trained from different seeds. Members differing
only in seed are nearly the same function (on Fashion-MNIST their ensemble gains ~0.2 points), so the members can be
made diverse: ``member_models`` gives each its own architecture, ``member_jitter`` its own augmentation (largest
random shift in pixels) and ``bootstrap`` trains each on its own bootstrap sample of the training set (bagging).

With ``jitter`` > 0 the student is distilled on randomly shifted images, the ensemble queried on the very view the
student sees (the "consistent teaching" of Beyer et al. 2022): the transfer set then probes the ensemble off its
own training points, where its soft targets say more than the labels.

The figure of merit is how much of the ensemble's gain over a single model the student recovers,
(student - single) / (ensemble - single), against three single models: the mean member (``gain_recovered``), the
members of the student's own architecture (``gain_recovered_vs_student_member``) and the student's architecture
trained from labels alone on the student's schedule (``gain_recovered_vs_alone``, with ``student_alone`` or
``distill_train``): a longer or augmented student schedule is a gain of its own, which only the last one removes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from kdistill.errors import ConfigError
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


def member_plan(model: ModelSpec, members: int, member_models: Sequence[ModelSpec] | None,
                jitter: int, member_jitter: Sequence[int] | None) -> list[tuple[ModelSpec, int]]:
    """(architecture, largest shift) of each member; a list given for one must name every member."""
    models = [model] * members if member_models is None else list(member_models)
    shifts = [jitter] * len(models) if member_jitter is None else [int(s) for s in member_jitter]
    if len(models) < MIN_MEMBERS:
        raise ValueError(f"the ensemble experiment needs at least {MIN_MEMBERS} members; got {len(models)}")
    if member_models is not None and members not in (MIN_MEMBERS, len(models)):
        raise ConfigError(f"members={members} but member_models names {len(models)}: drop members or make them agree")
    if len(shifts) != len(models) or any(s < 0 for s in shifts):
        raise ConfigError(f"member_jitter needs one shift >= 0 per member ({len(models)}); got {member_jitter}")
    return list(zip(models, shifts))


def bootstrap_sample(count: int, seed: int) -> torch.Tensor:
    """``count`` indices drawn with replacement (a bagging member's training set; ~63% distinct)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, count, (count,), generator=generator)


def share(student: float, ensemble: float, single: float) -> float:
    """The student's share of the ensemble's gain over ``single``; NaN when the ensemble does not gain."""
    gain = ensemble - single
    return (student - single) / gain if gain > 0 else float("nan")


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
    member_models: Sequence[ModelSpec] | None = None,
    member_jitter: Sequence[int] | None = None,
    bootstrap: bool = False,
    student_alone: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Ensemble of >= 5 models vs each single model vs one student (architecture ``model``) distilled from it.

    ``distill_train`` overrides ``train`` for the student (e.g. a longer schedule); ``jitter`` is the largest random
    shift in pixels of the student's training images (and of the members' unless ``member_jitter`` is given).
    """
    plan = member_plan(model, members, member_models, jitter, member_jitter)
    trained = []
    for index, (member_model, member_shift) in enumerate(plan):
        member_seed = 1000 * seed + index
        network = build_seeded_model(member_model, splits.input_shape, splits.num_classes, member_seed)
        images, labels = splits.train_images, splits.train_labels
        if bootstrap:
            rows = bootstrap_sample(len(labels), member_seed)
            images, labels = images[rows], labels[rows]
        fit_model(network, images, labels, splits, train, member_seed, max_shift=member_shift)
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
    own = [a for (spec, _), a in zip(plan, member_accuracy) if dict(spec) == dict(model)]
    result = {
        "members": len(plan),
        "member_models": [dict(spec) for spec, _ in plan],
        "member_jitter": [shift for _, shift in plan],
        "member_accuracy": member_accuracy,
        "member_train_accuracy": member_train_accuracy,
        "single_mean_accuracy": single,
        "ensemble_accuracy": ensemble_accuracy,
        "distilled_accuracy": student_accuracy,
        "gain_recovered": share(student_accuracy, ensemble_accuracy, single),
    }
    if own:
        student_member = statistics.fmean(own)
        result.update(student_member_accuracy=student_member,
                      gain_recovered_vs_student_member=share(student_accuracy, ensemble_accuracy, student_member))
    if student_alone or distill_train is not None:
        # a longer or augmented student schedule is a gain of its own: the same student trained on it from labels
        # alone tells how much of the distilled student's accuracy comes from the ensemble
        alone = build_seeded_model(model, splits.input_shape, splits.num_classes, student_seed)
        fit_model(alone, splits.train_images, splits.train_labels, splits, options, student_seed, max_shift=jitter)
        alone_accuracy = accuracy_on(alone, splits.test_images, splits.test_labels)
        result.update(student_alone_accuracy=alone_accuracy,
                      gain_recovered_vs_alone=share(student_accuracy, ensemble_accuracy, alone_accuracy))
    return result
