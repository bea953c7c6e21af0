"""Plumbing shared by the experiment procedures: data splits, seeded models, loaders, training and test accuracy.

A procedure is an experiment built from the public API (``kdistill.fit`` / ``distill`` / ``evaluate``, teachers,
``kdistill.data``). Models are named as data - ``{"model": "mlp", "model_args": {"hidden": [800, 800]}}`` - and
training settings are flat :class:`~kdistill.training.TrainConfig` fields (``{"epochs": 5, "lr": 0.05}``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from kdistill.api import distill, evaluate, fit
from kdistill.config import DataSection
from kdistill.data import ArrayLoader
from kdistill.experiment.models import build_seeded
from kdistill.experiment.splits import ExperimentData, prepare_data
from kdistill.training import TrainResult

ModelSpec = Mapping[str, Any]  # {"model": registered name, "model_args": {...}}


Splits = ExperimentData  # train / validation (carved from train) / test: the same splits ``kdistill run`` uses


def load_splits(dataset: str, val_size: int, seed: int, train_limit: int | None = None,
                test_limit: int | None = None, options: dict[str, Any] | None = None) -> Splits:
    """A dataset (built-in, data source with ``options``, or a path) split exactly as ``kdistill run`` splits it
    (seeded validation carve, stratified ``train_limit`` / ``test_limit`` subsets), held in memory as tensors."""
    section = DataSection(dataset=dataset, val_size=val_size, train_limit=train_limit, options=dict(options or {}))
    return prepare_data(section, seed, test_limit).materialize()


def build_seeded_model(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """A registered model named as data (``{"model": ..., "model_args": ...}``) with seeded initial weights."""
    return build_seeded(spec["model"], spec.get("model_args", {}), input_shape, num_classes, seed)


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
