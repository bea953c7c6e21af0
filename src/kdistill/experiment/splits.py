"""The data an experiment trains, selects and tests on, built once from the recipe's ``data`` section."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from kdistill.config import DataSection
from kdistill.data import ArrayLoader, load_dataset, split_validation, subset


@dataclass
class ExperimentData:
    train_images: torch.Tensor  # (N, C, H, W)
    train_labels: torch.Tensor  # (N,)
    val_images: torch.Tensor  # carved from the training set: used for model selection
    val_labels: torch.Tensor
    test_images: torch.Tensor  # used only for the final report
    test_labels: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]

    def train_loader(self, batch_size: int, jitter: int, seed: int) -> ArrayLoader:
        return ArrayLoader(self.train_images, self.train_labels, batch_size, shuffle=True, max_shift=jitter, seed=seed)

    def with_train(self, images: torch.Tensor, labels: torch.Tensor) -> ExperimentData:
        """The same splits with another training set (a transfer set, a subset)."""
        return replace(self, train_images=images, train_labels=labels)

    def eval_loader(self, split: str, batch_size: int) -> ArrayLoader:
        images, labels = (self.val_images, self.val_labels) if split == "val" else (self.test_images, self.test_labels)
        return ArrayLoader(images, labels, batch_size, shuffle=False)


def prepare_data(section: DataSection, seed: int, test_limit: int | None = None) -> ExperimentData:
    """The one way every pipeline (``run``, procedures, benchmarks) splits data: a seeded validation carve from the
    training set, then (``train_limit``) a seeded class-stratified subset of the rest; ``test_limit`` (procedures'
    quick checks) takes a stratified subset of the test set."""
    dataset = load_dataset(section.dataset)
    train_images, train_labels, val_images, val_labels = split_validation(
        dataset.train_images, dataset.train_labels, section.val_size, seed
    )
    if section.train_limit is not None and section.train_limit < len(train_labels):
        train_images, train_labels = subset(train_images, train_labels, section.train_limit, seed)
    test_images, test_labels = dataset.test_images, dataset.test_labels
    if test_limit is not None and test_limit < len(test_labels):
        test_images, test_labels = subset(test_images, test_labels, test_limit, seed)
    return ExperimentData(
        train_images, train_labels, val_images, val_labels, test_images, test_labels,
        dataset.num_classes, dataset.input_shape, dataset.class_names,
    )
