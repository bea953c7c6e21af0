"""``npz``: train/test (and optionally val) arrays in one ``.npz`` file, memory-mapped where the file allows it.

Inputs of an archive written by ``np.savez`` are memory-mapped, so opening a 20 GB file costs almost nothing; those of
``np.savez_compressed`` are read into memory (re-save with ``np.savez`` to map them). Labels are always read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from kdistill.errors import ConfigError, DataError
from kdistill.sources.arrays import ArrayConverter, ArrayDataset, labels_tensor
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceInfo, user_path
from kdistill.sources.npz_members import read_npz_arrays


@dataclass(kw_only=True)
class NpzOptions:
    """``path`` to the .npz; the array names of each split (null drops a split; train is required); ``layout``
    and ``scale_uint8`` as in :class:`~kdistill.sources.arrays.ArrayConverter`; optional class names."""

    path: str
    x_train: str = "x_train"
    y_train: str = "y_train"
    x_test: str | None = "x_test"
    y_test: str | None = "y_test"
    x_val: str | None = None
    y_val: str | None = None
    layout: str = "auto"
    scale_uint8: bool = True
    class_names: list[str] | None = None

    def __post_init__(self) -> None:
        for split in ("test", "val"):
            if (getattr(self, f"x_{split}") is None) != (getattr(self, f"y_{split}") is None):
                raise ConfigError(f"set both x_{split} and y_{split} (or neither) in the npz options")
        ArrayConverter(self.layout, self.scale_uint8)  # validates layout

    def split_keys(self) -> dict[str, tuple[str, str]]:
        keys = {"train": (self.x_train, self.y_train), "val": (self.x_val, self.y_val),
                "test": (self.x_test, self.y_test)}
        return {split: (x, y) for split, (x, y) in keys.items() if x is not None and y is not None}


@DATA_SOURCES.register("npz")
class NpzSource(DataSource):
    """Arrays in one .npz file (x_train/y_train/x_test/y_test by default); inputs memory-mapped when uncompressed."""

    Options = NpzOptions

    @cached_property
    def _arrays(self) -> dict[str, tuple[Any, Any]]:
        """split -> (inputs array-like, labels tensor), checked for matching lengths."""
        path = user_path(self.options.path)
        if not path.is_file():
            raise DataError(f"npz file {path} does not exist; set path to an .npz written with numpy.savez")
        keys = self.options.split_keys()
        arrays = read_npz_arrays(path, [key for pair in keys.values() for key in pair])
        splits = {}
        for split, (x_key, y_key) in keys.items():
            inputs = arrays[x_key]
            labels = labels_tensor(np.asarray(arrays[y_key][:]), f"{path}:{y_key}")
            if len(inputs) != len(labels):
                raise DataError(f"{path}: '{x_key}' has {len(inputs)} samples but '{y_key}' has {len(labels)} labels")
            if not np.issubdtype(inputs.dtype, np.number) and inputs.dtype != np.bool_:
                raise DataError(f"{path}: '{x_key}' is {inputs.dtype}, not numbers; save numeric arrays")
            splits[split] = (inputs, labels)
        return splits

    @property
    def info(self) -> SourceInfo:
        splits = self._arrays
        num_classes = 1 + max(int(labels.max()) if len(labels) else 0 for _, labels in splits.values())
        class_names = self.options.class_names
        if class_names is not None:
            if len(class_names) < num_classes:
                raise DataError(f"{self.options.path} has class ids up to {num_classes - 1} but class_names lists "
                                f"{len(class_names)} names; name every class")
            num_classes = len(class_names)
        names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(num_classes))
        converter = ArrayConverter(self.options.layout, self.options.scale_uint8)
        inputs, _ = splits["train"]
        return SourceInfo(num_classes, names, converter.shape(tuple(inputs.shape[1:])), tuple(splits))

    def open(self, split: str) -> ArrayDataset:
        self.check_split(split)
        inputs, labels = self._arrays[split]
        return ArrayDataset(inputs, labels, ArrayConverter(self.options.layout, self.options.scale_uint8))
