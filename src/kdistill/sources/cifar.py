"""``cifar10`` / ``cifar100``: the "python version" batch files of CIFAR, from a folder the user already has.

Nothing is downloaded. The files are pickles of dicts of numpy arrays, so they are read with
:func:`kdistill.sources.cifar_pickle.load_cifar_pickle`, whose allow-list names the exact globals a batch needs
(``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, ...) and nothing else: a batch file that
names any other global is refused, never executed. Images are held in memory as uint8 (N, 3, 32, 32) (150 MB for
CIFAR's 50,000 training images) and scaled to float32 [0, 1] per sample.

    cifar-10-batches-py/  data_batch_1 .. data_batch_5, test_batch, batches.meta (label_names)
    cifar-100-python/     train, test, meta (fine_label_names, coarse_label_names)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from kdistill.errors import ConfigError, DataError
from kdistill.sources.arrays import ArrayConverter, ArrayDataset
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceInfo, one_line, user_path
from kdistill.sources.cifar_pickle import load_cifar_pickle

CIFAR_SHAPE = (3, 32, 32)


@dataclass(kw_only=True)
class Cifar10Options:
    """``root``: the cifar-10-batches-py folder (or the folder that contains it)."""

    root: str


@dataclass(kw_only=True)
class Cifar100Options:
    """``root``: the cifar-100-python folder (or its parent); ``labels``: "fine" (100 classes) or "coarse" (20)."""

    root: str
    labels: str = "fine"

    def __post_init__(self) -> None:
        if self.labels not in ("fine", "coarse"):
            raise ConfigError(f"labels must be 'fine' or 'coarse'; got '{self.labels}'")


def text(value: Any) -> Any:
    """Python-2 pickles give str keys and names, Python-3 ones may give bytes: use str throughout."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def read_batch(path: Path) -> dict[str, Any]:
    """One batch file -> dict with str keys, through the numpy-only unpickler."""
    if not path.is_file():
        raise DataError(f"CIFAR batch file {path} is missing; point root at the extracted python-version folder")
    try:
        content = load_cifar_pickle(path.read_bytes())
    except DataError as error:
        raise DataError(f"{path}: {error}") from error
    except Exception as error:  # truncated or not a pickle at all
        raise DataError(f"cannot read CIFAR batch {path} ({type(error).__name__}: {one_line(error)}); re-extract "
                        "the archive") from error
    if not isinstance(content, dict):
        raise DataError(f"{path} is not a CIFAR batch (a pickled dict); got {type(content).__name__}")
    return {text(key): value for key, value in content.items()}


def batch_arrays(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file, checked against the CIFAR layout."""
    batch = read_batch(path)
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{path} lacks '{'data' if 'data' not in batch else label_key}'; keys: "
                        f"{', '.join(sorted(map(str, batch)))}")
    data, labels = batch["data"], np.asarray(batch[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must be uint8 (N, 3072) rows of 32x32 RGB planes; got "
                        f"{getattr(data, 'dtype', type(data).__name__)}{getattr(data, 'shape', '')}")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: '{label_key}' must hold one integer per image ({len(data)}); got {labels.shape}")
    return data.reshape(-1, *CIFAR_SHAPE), labels.astype(np.int64)  # rows are R, G, B planes of 32x32


def find_folder(root: str, expected: str, marker: str) -> Path:
    folder = user_path(root)
    if (folder / expected).is_dir() and not (folder / marker).exists():
        folder = folder / expected
    if not folder.is_dir():
        raise DataError(f"CIFAR folder {root} does not exist; set root to the extracted {expected} folder")
    return folder


class CifarSource(DataSource):
    """Shared by cifar10 and cifar100: ``files`` maps split -> batch files, ``meta`` names the class-name list."""

    folder_name: ClassVar[str]
    files: ClassVar[dict[str, tuple[str, ...]]]
    meta_file: ClassVar[str]

    @property
    def label_key(self) -> str:
        raise NotImplementedError

    @property
    def names_key(self) -> str:
        raise NotImplementedError

    @cached_property
    def folder(self) -> Path:
        return find_folder(self.options.root, self.folder_name, self.meta_file)

    @cached_property
    def class_names(self) -> tuple[str, ...]:
        meta = read_batch(self.folder / self.meta_file)
        if self.names_key not in meta:
            raise DataError(f"{self.folder / self.meta_file} lacks '{self.names_key}'; re-extract the archive")
        return tuple(str(text(name)) for name in meta[self.names_key])

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(len(self.class_names), self.class_names, CIFAR_SHAPE, tuple(self.files))

    def open(self, split: str) -> ArrayDataset:
        self.check_split(split)
        parts = [batch_arrays(self.folder / name, self.label_key) for name in self.files[split]]
        images = np.concatenate([images for images, _ in parts])
        labels = torch.from_numpy(np.concatenate([labels for _, labels in parts]))
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(self.class_names):
            raise DataError(f"CIFAR {split} labels in {self.folder} fall outside 0..{len(self.class_names) - 1}")
        return ArrayDataset(torch.from_numpy(images), labels, ArrayConverter("auto"))


@DATA_SOURCES.register("cifar10")
class Cifar10Source(CifarSource):
    """CIFAR-10 from its python-version batch files in a local folder (no download): 3x32x32, 10 classes."""

    Options = Cifar10Options
    folder_name = "cifar-10-batches-py"
    files: ClassVar[dict[str, tuple[str, ...]]] = {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)
    }
    meta_file = "batches.meta"
    label_key = "labels"
    names_key = "label_names"


@DATA_SOURCES.register("cifar100")
class Cifar100Source(CifarSource):
    """CIFAR-100 from its python-version files in a local folder (no download): 3x32x32, 100 fine / 20 coarse."""

    Options = Cifar100Options
    folder_name = "cifar-100-python"
    files: ClassVar[dict[str, tuple[str, ...]]] = {"train": ("train",), "test": ("test",)}
    meta_file = "meta"

    @property
    def label_key(self) -> str:
        return f"{self.options.labels}_labels"

    @property
    def names_key(self) -> str:
        return f"{self.options.labels}_label_names"
