"""The built-in datasets (mnist, fashion-mnist, digits) as sources like any other.

They delegate to :func:`kdistill.data.load_dataset` (pinned, checksummed, cached) and serve its in-memory float32
tensors; the samples are exactly the tensors the in-memory ``ArrayLoader`` pipeline trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kdistill.data import ImageDataset, load_dataset
from kdistill.sources.arrays import ArrayConverter, ArrayDataset
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceInfo


@dataclass(kw_only=True)
class BuiltinOptions:
    """``download: false`` raises a DataError naming ``kdistill data fetch`` instead of fetching a missing dataset."""

    download: bool = True


class BuiltinSource(DataSource):
    """A registered :mod:`kdistill.data` dataset; ``dataset_name`` names it there."""

    Options = BuiltinOptions
    dataset_name: str

    @cached_property
    def dataset(self) -> ImageDataset:
        return load_dataset(self.dataset_name, download=self.options.download)

    @property
    def info(self) -> SourceInfo:
        data = self.dataset
        return SourceInfo(data.num_classes, tuple(data.class_names), data.input_shape, ("train", "test"))

    def open(self, split: str) -> ArrayDataset:
        self.check_split(split)
        data = self.dataset
        images, labels = (data.train_images, data.train_labels) if split == "train" else (data.test_images,
                                                                                        data.test_labels)
        return ArrayDataset(images, labels, ArrayConverter("raw"))  # already float32 (N, C, H, W) in [0, 1]


@DATA_SOURCES.register("mnist")
class MnistSource(BuiltinSource):
    """MNIST digits (built in): 60,000 train / 10,000 test, 1x28x28, 10 classes."""

    dataset_name = "mnist"


@DATA_SOURCES.register("fashion-mnist")
class FashionMnistSource(BuiltinSource):
    """Fashion-MNIST clothing (built in): 60,000 train / 10,000 test, 1x28x28, 10 classes."""

    dataset_name = "fashion-mnist"


@DATA_SOURCES.register("digits")
class DigitsSource(BuiltinSource):
    """scikit-learn 8x8 digits (built in): 1,437 train / 360 test, 1x8x8, 10 classes."""

    dataset_name = "digits"
