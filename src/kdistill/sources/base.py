"""The data-source contract: a registered source turns validated options into map-style datasets, one per split.

    source = open_source("image-folder", {"root": "pets/", "resize": [64, 64]})
    source.info            # SourceInfo(num_classes=2, class_names=("cat", "dog"), input_shape=(3, 64, 64), ...)
    train = source.open("train")
    train[0]               # {"inputs": (3, 64, 64) float32, "labels": int64 scalar, "index": 0}

Every sample carries ``index``: its position in that split (0 .. len - 1), which is what the teacher cache keys on.
Datasets hold only what identifies a sample (paths, memory maps, row numbers) plus labels; decoding happens in
``__getitem__``, so ``DataLoader`` workers do it in parallel.
"""

from __future__ import annotations

import abc
import dataclasses
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from kdistill.config.validate import from_dict
from kdistill.errors import ConfigError
from kdistill.registry import Registry

DATA_SOURCES = Registry("data source")

Sample = dict[str, Any]  # {"inputs": tensor or dict of tensors, "labels": int64 scalar tensor, "index": int}
InputShape = tuple[int, ...] | dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class SourceInfo:
    """What a model builder and the report need to know about a source, without reading any samples' pixels."""

    num_classes: int
    class_names: tuple[str, ...]
    input_shape: InputShape  # one sample's inputs: (C, H, W) images, (F,) vectors, {column: shape} for dict inputs
    splits: tuple[str, ...]  # the splits ``open`` accepts, e.g. ("train", "test")


class SourceDataset(Dataset):
    """A map-style dataset of contract samples; subclasses store labels and implement :meth:`read_input`."""

    def __init__(self, labels: torch.Tensor, input_shape: InputShape):
        self.labels = labels.long()  # (N,) int64: every label, so splits and samplers never decode inputs
        self.input_shape = input_shape

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Sample:
        position = sample_position(index, len(self))
        return {"inputs": self.read_input(position), "labels": self.labels[position], "index": position}

    def read_input(self, index: int) -> Any:
        """The inputs of sample ``index`` (0 <= index < len): a tensor, or a dict of tensors (model kwargs)."""
        raise NotImplementedError


def sample_position(index: Any, length: int) -> int:
    """``index`` as a plain int in [0, length); negative indices count from the end, like a list's."""
    position = operator.index(index)
    if position < 0:
        position += length
    if not 0 <= position < length:
        raise IndexError(f"sample index {index} is out of range for a dataset of {length} samples")
    return position


def user_path(text: str) -> Path:
    """A path option as a user writes it: ``~`` is their home folder (shipped recipes say ``~/data/...``)."""
    return Path(text).expanduser()


def one_line(error: BaseException) -> str:
    """An exception's message on one line (for the ``reason`` part of a DataError)."""
    return " ".join(str(error).split()) or type(error).__name__


class DataSource(abc.ABC):
    """A registered source of labelled samples. ``Options`` is its typed options dataclass (see :func:`open_source`).

    ``__init__`` only stores the options; files are read by ``info`` and ``open`` (and cached on the instance).
    """

    Options: ClassVar[type]

    def __init__(self, options: Any):
        self.options = options

    @property
    @abc.abstractmethod
    def info(self) -> SourceInfo:
        """Number and names of classes, one sample's input shape and the available splits."""

    @abc.abstractmethod
    def open(self, split: str) -> SourceDataset:
        """The map-style dataset of ``split`` (one of ``info.splits``); ConfigError for any other name."""

    def check_split(self, split: str) -> None:
        if split not in self.info.splits:
            raise ConfigError(f"split '{split}' is not available from this {type(self).__name__}; "
                              f"available: {', '.join(self.info.splits)}")


def parse_options(options_class: type, options: dict[str, Any] | None, path: str) -> Any:
    """Validate ``options`` (plain data, e.g. from YAML) into ``options_class``; ConfigError naming the key."""
    options = {} if options is None else options
    if isinstance(options, dict):
        fields = dataclasses.fields(options_class)
        required = [f.name for f in fields if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in options]
        unknown = set(options) - {f.name for f in fields}  # reported first, by from_dict: "rot" is a typo of "root"
        if missing and not unknown:
            raise ConfigError(f"'{path}.{missing[0]}' is required; valid keys: {', '.join(f.name for f in fields)}")
    return from_dict(options_class, options, path)


def open_source(name: str, options: dict[str, Any] | None = None, path: str = "data.options") -> DataSource:
    """Build registered source ``name`` from plain ``options``; ``path`` names the options in error messages.

    Unknown source -> ConfigError listing the registered ones; unknown option -> ConfigError listing the valid keys;
    wrong type -> ConfigError naming the key. Nothing is read from disk until ``info`` or ``open`` is used.
    """
    source_class = DATA_SOURCES.get(name)
    return source_class(parse_options(source_class.Options, options, path))


def source_options(name: str) -> dict[str, Any]:
    """``{option: default}`` of source ``name`` (``dataclasses.MISSING`` for required ones), for listings and docs."""
    fields = dataclasses.fields(DATA_SOURCES.get(name).Options)
    return {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory() for f in fields}
