"""Plumbing shared by the experiment procedures: data splits, seeded models, loaders, training and test accuracy.

A procedure is an experiment built from the public API (``kdistill.fit`` / ``distill`` / ``evaluate``, teachers,
``kdistill.data``). Models are named as data - ``{"model": "mlp", "model_args": {"hidden": [800, 800]}}`` - and
training settings are flat :class:`~kdistill.training.TrainConfig` fields (``{"epochs": 5, "lr": 0.05}``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from kdistill.api import distill, evaluate, fit
from kdistill.data import ArrayLoader, load_dataset, split_validation
from kdistill.models import build_model
from kdistill.training import TrainResult
from kdistill.training.seeding import seed_everything

ModelSpec = Mapping[str, Any]  # {"model": registered name, "model_args": {...}}


@dataclass
class Splits:
    """Train / validation (carved from the training set) / test arrays of one dataset."""

    train_images: torch.Tensor  # (N, C, H, W)
    train_labels: torch.Tensor  # (N,)
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(size) for size in self.train_images.shape[1:])

    def with_train(self, images: torch.Tensor, labels: torch.Tensor) -> "Splits":
        """The same splits with another training set (a transfer set, a subset)."""
        return replace(self, train_images=images, train_labels=labels)


def load_splits(dataset: str, val_size: int, seed: int, train_limit: int | None = None,
                test_limit: int | None = None) -> Splits:
    """Load a registered dataset and carve a seeded validation set out of its training set."""
    data = load_dataset(dataset)
    train_x, train_y, val_x, val_y = split_validation(data.train_images, data.train_labels, val_size, seed)
    if train_limit is not None:
        train_x, train_y = train_x[:train_limit], train_y[:train_limit]
    test_x, test_y = data.test_images, data.test_labels
    if test_limit is not None:
        test_x, test_y = test_x[:test_limit], test_y[:test_limit]
    return Splits(train_x, train_y, val_x, val_y, test_x, test_y, data.num_classes)


def build_seeded_model(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """A registered model with seeded initial weights."""
    seed_everything(seed)
    return build_model(spec["model"], input_shape, num_classes, **dict(spec.get("model_args", {})))


def train_loader(images: torch.Tensor, labels: torch.Tensor, options: Mapping[str, Any], seed: int,
                 max_shift: int = 0) -> ArrayLoader:
    return ArrayLoader(images, labels, batch_size=int(options.get("batch_size", 128)), max_shift=max_shift, seed=seed)


def eval_loader(images: torch.Tensor, labels: torch.Tensor) -> ArrayLoader:
    return ArrayLoader(images, labels, batch_size=1000, shuffle=False)


def fit_model(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, splits: Splits,
              options: Mapping[str, Any], seed: int, max_shift: int = 0) -> TrainResult:
    """``kdistill.fit`` on (images, labels), validated on ``splits``' validation set."""
    return fit(model, train_loader(images, labels, options, seed, max_shift), eval_loader(splits.val_images,
               splits.val_labels), **{**options, "seed": seed})


def train_teacher(spec: ModelSpec, splits: Splits, options: Mapping[str, Any], seed: int, jitter: int = 0) -> nn.Module:
    """The full-data teacher a procedure distils from, when the caller passes none (seeded from the run's seed)."""
    teacher = build_seeded_model(spec, splits.input_shape, splits.num_classes, 1000 * seed + 7)
    fit_model(teacher, splits.train_images, splits.train_labels, splits, options, 1000 * seed + 7, max_shift=jitter)
    return teacher


def distill_model(teacher: nn.Module, student: nn.Module, batches: Iterable, val_batches: Iterable | None,
                  options: Mapping[str, Any], seed: int, method: str = "hinton", **method_args: Any) -> TrainResult:
    """``kdistill.distill`` with flat training options and the method's own arguments."""
    return distill(teacher, student, batches, val_batches, method=method, **{**options, "seed": seed}, **method_args)


def accuracy_on(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float(evaluate(model, eval_loader(images, labels))["accuracy"])


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Logits (N, C) in eval mode, in chunks."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(images[start:start + 1000]) for start in range(0, len(images), 1000)])
    finally:
        model.train(was_training)


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy that can serve as a teacher without aliasing the original's weights."""
    return copy.deepcopy(model)


class TeacherAsModel(nn.Module):
    """A :class:`~kdistill.teachers.Teacher` (which takes batches) called on raw inputs like a model."""

    def __init__(self, teacher: nn.Module):
        super().__init__()
        self.teacher = teacher

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.teacher({"inputs": inputs})
