"""Class-specialised distillation experiment (Wang et al. 2022): a student for a subset of classes, trained from the
teacher's logits restricted to the subset and renormalised at T (:mod:`kdistill.strategies.specialist`), vs the same
student trained on the subset from labels only. Accuracy is over test examples of the subset's classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from kdistill.procedures.common import (
    ModelSpec,
    Splits,
    accuracy_on,
    build_seeded_model,
    distill_model,
    eval_loader,
    fit_model,
    predict,
    train_loader,
    train_teacher,
)
from kdistill.procedures.registry import PROCEDURES


def restrict_to_classes(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int]
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images of the subset's classes, their original labels, their positions in ``classes``)."""
    class_ids = torch.as_tensor(list(classes))
    keep = torch.isin(labels, class_ids)
    kept = labels[keep]
    return images[keep], kept, (kept.unsqueeze(-1) == class_ids).long().argmax(-1)


@PROCEDURES.register("specialist")
def specialist_experiment(
    splits: Splits,
    classes: Sequence[int],
    teacher_model: ModelSpec,
    student_model: ModelSpec,
    train: Mapping[str, Any],
    teacher_train: Mapping[str, Any] | None = None,
    teacher: nn.Module | None = None,
    teacher_jitter: int = 0,
    temperature: float = 4.0,
    ce_weight: float = 0.1,
    kd_weight: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    """Specialist from labels only vs specialist distilled from the subset-restricted teacher.

    Pass a trained ``teacher`` to reuse one; otherwise ``teacher_model`` is trained on all classes first.
    """
    if teacher is None:
        teacher = train_teacher(teacher_model, splits, teacher_train or train, seed, teacher_jitter)
    train_x, _, train_pos = restrict_to_classes(splits.train_images, splits.train_labels, classes)
    val_x, _, val_pos = restrict_to_classes(splits.val_images, splits.val_labels, classes)
    test_x, _, test_pos = restrict_to_classes(splits.test_images, splits.test_labels, classes)
    subset_splits = replace(splits, train_images=train_x, train_labels=train_pos, val_images=val_x, val_labels=val_pos,
                            test_images=test_x, test_labels=test_pos, num_classes=len(classes),
                            class_names=[splits.class_names[c] for c in classes])
    student_seed = 1000 * seed + 11
    from_labels = build_seeded_model(student_model, splits.input_shape, len(classes), student_seed)
    fit_model(from_labels, train_x, train_pos, subset_splits, train, student_seed)
    distilled = build_seeded_model(student_model, splits.input_shape, len(classes), student_seed)
    # the strategy maps labels into subset positions itself, so it gets the original class ids
    _, train_labels, _ = restrict_to_classes(splits.train_images, splits.train_labels, classes)
    distill_model(teacher, distilled, train_loader(train_x, train_labels, train, student_seed),
                  eval_loader(val_x, val_pos), train, student_seed, method="specialist", classes=list(classes),
                  temperature=temperature, ce_weight=ce_weight, kd_weight=kd_weight)
    teacher_subset = predict(teacher, test_x)[:, list(classes)]  # the teacher's argmax over the subset only
    return {
        "classes": list(classes),
        "teacher_subset_accuracy": float((teacher_subset.argmax(-1) == test_pos).double().mean()),
        "labels_only_accuracy": accuracy_on(from_labels, test_x, test_pos),
        "specialist_kd_accuracy": accuracy_on(distilled, test_x, test_pos),
    }
