"""The data an experiment trains, selects and tests on, built once from the recipe's ``data`` section.

Two kinds of storage behind one interface:

- built-in datasets (mnist, fashion-mnist, digits) are held in memory as tensors and batched by ``ArrayLoader``
  (the fast path, and the one the teacher cache reads);
- a data source (``kdistill.sources``: image folders, .npz, tables, HF datasets, CIFAR) is streamed: each split is
  a map-style dataset decoded sample by sample (in DataLoader workers with ``data.workers``), so memory does not
  grow with the dataset.

Either way labels are in memory ((N,) int64) and every batch carries each sample's ``index`` into its split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.utils.data import Dataset
from torch.utils.data.dataloader import default_collate

from kdistill.config import DataSection
from kdistill.data import ArrayLoader, load_dataset, split_validation, subset
from kdistill.data.splits import subset_indices
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError
from kdistill.text.padding import trim_padding


@dataclass
class ExperimentData:
    train_images: torch.Tensor | None  # (N, C, H, W) in memory; None when the split is streamed (train_set)
    train_labels: torch.Tensor  # (N,)
    val_images: torch.Tensor | None  # carved from the training set: used for model selection
    val_labels: torch.Tensor
    test_images: torch.Tensor | None  # used only for the final report
    test_labels: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]  # {name: shape} for multi-input samples (text)
    class_names: list[str]
    streams: dict[str, Dataset] | None = None  # "train" / "val" / "test" datasets of a streamed source
    workers: int = 0
    feature_names: list[str] | None = None  # a table source's input columns, in input order

    @property
    def streaming(self) -> bool:
        return self.streams is not None

    def train_loader(self, batch_size: int, jitter: int, seed: int, rank: int = 0, world_size: int = 1,
                     augment: dict[str, Any] | None = None, warp: WarpOptions | None = None) -> Any:
        """Shuffled training batches; ``jitter``, ``warp`` and ``augment`` (crop_padding, crop_fill, flip) are
        drawn per (seed, epoch, sample). In-memory data without ``augment`` takes the ArrayLoader fast path, the only
        one that warps (the recipe check refuses a warp elsewhere)."""
        if self.streams is None and not augment:
            return ArrayLoader(self.train_images, self.train_labels, batch_size, shuffle=True, max_shift=jitter,
                               seed=seed, rank=rank, world_size=world_size, warp=warp)
        if warp is not None and warp.active:
            raise ConfigError("a training warp needs an in-memory image dataset without augment; drop the warp or "
                              "the augment options")
        from kdistill.sources import AugmentOptions, source_loader

        options = AugmentOptions(jitter=jitter, **(augment or {})) if jitter or augment else None
        dataset = self.streams["train"] if self.streams is not None else TensorSplit(self.train_images,
                                                                                    self.train_labels)
        return source_loader(dataset, batch_size, shuffle=True, seed=seed, augment=options,
                             num_workers=self.workers, rank=rank, world_size=world_size)

    def with_train(self, images: torch.Tensor, labels: torch.Tensor) -> ExperimentData:
        """The same splits with another training set (a transfer set, a subset)."""
        return replace(self, train_images=images, train_labels=labels)

    def eval_loader(self, split: str, batch_size: int) -> Any:
        if self.streams is None:
            images, labels = ((self.val_images, self.val_labels) if split == "val"
                              else (self.test_images, self.test_labels))
            return ArrayLoader(images, labels, batch_size, shuffle=False)
        from kdistill.sources import source_loader

        return source_loader(self.streams[split], batch_size, shuffle=False, num_workers=self.workers)

    def materialize(self) -> ExperimentData:
        """The same splits held in memory as tensors (procedures index and slice them); a no-op when they are.
        Costs the decoded size in RAM (CIFAR-10: 50k x 3x32x32 float32 = 614 MB)."""
        if self.streams is None:
            return self
        tensors = {}
        for split, dataset in self.streams.items():
            loader = self.eval_loader(split, 512)
            tensors[split] = torch.cat([batch["inputs"] for batch in loader]) if len(dataset) else torch.empty(0)
        return replace(self, train_images=tensors["train"], val_images=tensors["val"], test_images=tensors["test"],
                       streams=None)

    def example_inputs(self, count: int = 1) -> torch.Tensor | dict[str, torch.Tensor]:
        """The first ``count`` test inputs (profiling, probes): a tensor, or a dict of tensors for multi-input
        samples (text: input_ids and attention_mask, trimmed to the longest of them)."""
        if self.streams is None:
            return self.test_images[:count]
        samples = [self.streams["test"][i] for i in range(min(count, len(self.test_labels)))]
        return trim_padding(default_collate([sample["inputs"] for sample in samples]))


def prepare_data(section: DataSection, seed: int, test_limit: int | None = None) -> ExperimentData:
    """The one way every pipeline (``run``, procedures, benchmarks) splits data: a seeded validation carve from the
    training set (unless the source has its own validation split), then (``train_limit``) a seeded class-stratified
    subset of the rest; ``test_limit`` (procedures' quick checks) takes a stratified subset of the test set."""
    from kdistill.experiment.sourcing import source_spec

    spec = source_spec(section)
    if spec is not None:
        return prepare_streams(section, seed, test_limit, *spec)
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


class TensorSplit(Dataset):
    """In-memory inputs (N, ...) and labels (N,) served sample by sample (when augmentation needs the per-sample
    path): ``{"inputs", "labels", "index"}``."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor):
        self.inputs, self.labels = inputs, labels
        self.input_shape = tuple(inputs.shape[1:])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index) if index >= 0 else len(self) + int(index)
        return {"inputs": self.inputs[index].clone(), "labels": self.labels[index], "index": index}


class Reindexed(Dataset):
    """``indices`` of ``dataset`` as a dataset of its own, each sample's ``index`` its position here (0..n-1): the
    ids a memory bank (CRD) or a teacher cache addresses must be dense within the training split."""

    def __init__(self, dataset: Dataset, indices: torch.Tensor):
        self.dataset, self.indices = dataset, indices.long()
        self.labels = dataset.labels[self.indices]
        self.input_shape = getattr(dataset, "input_shape", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        sample = dict(self.dataset[int(self.indices[position])])
        sample["index"] = int(position) if position >= 0 else len(self) + int(position)
        return sample


def prepare_streams(section: DataSection, seed: int, test_limit: int | None, kind: str,
                    options: dict[str, Any]) -> ExperimentData:
    from kdistill.sources import open_source

    source = open_source(kind, options, path="data.options")
    info = source.info
    if "test" not in info.splits:
        raise ConfigError(f"data source {kind} has no test split (splits: {', '.join(info.splits)}); the report "
                          "needs one - set the source's test_fraction or give it a test folder/arrays")
    train = source.open("train")
    everything = torch.arange(len(train))
    if "val" in info.splits:
        val = source.open("val")
        train_index = everything
    else:
        train_index, _, val_index, _ = split_validation(everything, train.labels, section.val_size, seed)
        val = Reindexed(train, val_index)
    if section.train_limit is not None and section.train_limit < len(train_index):
        train_index = train_index[subset_indices(train.labels[train_index], section.train_limit, seed)]
    test = source.open("test")
    if test_limit is not None and test_limit < len(test):
        test = Reindexed(test, subset_indices(test.labels, test_limit, seed))
    streams = {"train": Reindexed(train, train_index), "val": val, "test": test}
    return ExperimentData(
        None, streams["train"].labels, None, val.labels, None, test.labels,
        info.num_classes, input_shape_of(info.input_shape), list(info.class_names), streams, section.workers,
        getattr(source, "feature_names", None),
    )


def input_shape_of(shape: Any) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """One sample's input shape as a tuple, or ``{input name: tuple}`` for dict inputs (model keyword arguments)."""
    return {key: tuple(value) for key, value in shape.items()} if isinstance(shape, dict) else tuple(shape)
