"""Dark knowledge about an omitted class (Hinton et al. 2015, section 3): the transfer set holds no example of one
class, yet the student learns to recognise it from the teacher's soft targets on the other classes (paper: 86.8% of
test 3s right, 98.6% after raising the bias of class 3 by 3.5).

Guarantee: every batch the student trains on passes through :class:`ClassFreeBatches`, which raises if a label of
an omitted class appears - checked on the actual batches, not only on the arrays. The student's validation set (used
to select its epoch) is class-free too.

The bias of the omitted class is raised after training, by an amount either given by the user (Hinton: 3.5) or
fitted by :func:`fit_class_bias`. The fit uses *unlabelled* validation inputs - a pool in which the class occurs but
whose labels are never read - and an assumed prior for the class (default 1/C): it raises the bias until the class
is predicted on that fraction of the pool. So the fit uses the class's prior and unlabelled inputs, never a label of
the omitted class, and never the test set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kdistill.batch import as_batch
from kdistill.errors import DataError
from kdistill.procedures.common import (
    ModelSpec,
    Splits,
    accuracy_on,
    build_seeded_model,
    distill_model,
    eval_loader,
    predict,
    train_loader,
    train_teacher,
)
from kdistill.procedures.registry import PROCEDURES


def remove_classes(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) without any example of ``classes``."""
    keep = ~torch.isin(labels, torch.as_tensor(list(classes)))
    return images[keep], labels[keep]


class ClassFreeBatches:
    """Wraps a loader and raises DataError if a batch carries a label of ``omitted``; counts what it let through."""

    def __init__(self, batches: Iterable, omitted: Sequence[int]):
        self.batches, self.omitted = batches, torch.as_tensor(list(omitted))
        self.seen_labels = 0

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.batches, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        for raw in self.batches:
            labels = as_batch(raw)["labels"]
            if bool(torch.isin(labels, self.omitted).any()):
                raise DataError(f"an example of omitted class(es) {self.omitted.tolist()} reached the student")
            self.seen_labels += len(labels)
            yield raw


class LogitBias(nn.Module):
    """``model(x) + bias``: the model with its output biases raised by ``bias`` (C,)."""

    def __init__(self, model: nn.Module, bias: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("bias", bias.float())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs) + self.bias


def class_bias(num_classes: int, classes: Sequence[int], amount: float) -> torch.Tensor:
    bias = torch.zeros(num_classes)
    bias[list(classes)] = amount
    return bias


def fit_class_bias(logits: torch.Tensor, classes: Sequence[int], target_rate: float, low: float = 0.0,
                   high: float = 50.0, steps: int = 50) -> float:
    """The bias b (added to each of ``classes``' logits) at which those classes are predicted on ``target_rate`` of
    the unlabelled inputs whose logits (N, C) are given. The rate grows with b, so bisection finds it."""
    def rate(amount: float) -> float:
        shifted = logits + class_bias(logits.shape[-1], classes, amount)
        return float(torch.isin(shifted.argmax(-1), torch.as_tensor(list(classes))).double().mean())

    for _ in range(steps):
        middle = (low + high) / 2
        low, high = (middle, high) if rate(middle) < target_rate else (low, middle)
    return (low + high) / 2


def class_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int]) -> float:
    keep = torch.isin(labels, torch.as_tensor(list(classes)))
    return float((predict(model, images[keep]).argmax(-1) == labels[keep]).double().mean())


@PROCEDURES.register("omitted-class")
def omitted_class_experiment(
    splits: Splits,
    omitted: Sequence[int],
    teacher_model: ModelSpec,
    student_model: ModelSpec,
    train: Mapping[str, Any],
    teacher_train: Mapping[str, Any] | None = None,
    teacher: nn.Module | None = None,
    teacher_jitter: int = 0,
    bias: float | None = 3.5,
    class_prior: float | None = None,
    temperature: float = 20.0,
    ce_weight: float = 0.1,
    kd_weight: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    """Distil with no example of the omitted classes; their test accuracy before and after raising their bias.

    The bias is ``bias`` (given, e.g. Hinton's 3.5; None to skip) and one fitted to ``class_prior`` per class
    (default 1/C) on unlabelled validation inputs.
    """
    if teacher is None:
        teacher = train_teacher(teacher_model, splits, teacher_train or train, seed, teacher_jitter)
    transfer_x, transfer_y = remove_classes(splits.train_images, splits.train_labels, omitted)
    val_x, val_y = remove_classes(splits.val_images, splits.val_labels, omitted)
    student_seed = 1000 * seed + 13
    student = build_seeded_model(student_model, splits.input_shape, splits.num_classes, student_seed)
    batches = ClassFreeBatches(train_loader(transfer_x, transfer_y, train, student_seed), omitted)
    distill_model(teacher, student, batches, eval_loader(val_x, val_y), train, student_seed,
                  temperature=temperature, ce_weight=ce_weight, kd_weight=kd_weight)
    assert batches.seen_labels > 0  # the student did train, and only on class-free batches
    prior = class_prior if class_prior is not None else 1.0 / splits.num_classes
    fitted = fit_class_bias(predict(student, splits.val_images), omitted, prior * len(omitted))
    test_x, test_y = splits.test_images, splits.test_labels
    result: dict[str, Any] = {
        "omitted": list(omitted),
        "teacher_class_accuracy": class_accuracy(teacher, test_x, test_y, omitted),
        "student_accuracy": accuracy_on(student, test_x, test_y),
        "student_class_accuracy": class_accuracy(student, test_x, test_y, omitted),
        "fitted_bias": fitted,
    }
    amounts = {"fitted": fitted, **({"given": bias} if bias is not None else {})}
    for name, amount in amounts.items():
        shifted = LogitBias(student, class_bias(splits.num_classes, omitted, amount))
        result[f"{name}_bias_accuracy"] = accuracy_on(shifted, test_x, test_y)
        result[f"{name}_bias_class_accuracy"] = class_accuracy(shifted, test_x, test_y, omitted)
    if bias is not None:
        result["given_bias"] = bias
    return result
