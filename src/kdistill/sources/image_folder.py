"""``image-folder``: PNG/JPEG files in one sub-folder per class, decoded lazily in ``__getitem__``.

Layouts (class names are the sorted sub-folder names, as in torchvision's ImageFolder):

    root/cat/001.png, root/dog/002.jpg, ...                 one pool, cut by a seeded stratified split
    root/train/cat/001.png, root/test/cat/104.png, ...      the split folders present (train, val or validation, test)

Images must lie directly in their class folder (not in sub-folders); other files and hidden entries are ignored.

A dataset stores relative paths in one numpy bytes array (no per-path Python objects, so forked DataLoader workers
do not copy them on access) and labels: memory does not grow with image size, and only a few bytes per file.
With ``resize`` unset, ``info`` reads every file's header (no pixels) to check that all images share one size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from kdistill.errors import DataError
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceDataset, SourceInfo, one_line, user_path
from kdistill.sources.images import ImageDecoder, ImageOptions, pil_mode, require_pillow
from kdistill.sources.splits import SplitOptions, stratified_split

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}  # folder name -> split


@dataclass(kw_only=True)
class ImageFolderOptions(ImageOptions, SplitOptions):
    """``root``: the folder; decoding options from ImageOptions; val/test fractions for a folder without splits."""

    root: str

    def __post_init__(self) -> None:
        ImageOptions.__post_init__(self)
        SplitOptions.__post_init__(self)


def visible_entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((entry for entry in entries if not entry.name.startswith(".")), key=lambda entry: entry.name)


def class_folders(folder: Path) -> list[str]:
    return [entry.name for entry in visible_entries(folder) if entry.is_dir()]


def image_names(folder: Path) -> list[str]:
    return [entry.name for entry in visible_entries(folder)
            if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES)]


def scan_classes(folder: Path, class_names: list[str], root: Path) -> tuple[list[bytes], list[int]]:
    """Relative paths (bytes) and labels of every image under ``folder/<class>/``; DataError for an empty class."""
    paths: list[bytes] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        if not (folder / name).is_dir():
            continue  # a split may lack a class (e.g. no test images of it)
        names = image_names(folder / name)
        if not names:
            raise DataError(f"class folder {folder / name} has no PNG/JPEG images; add images or remove the folder")
        prefix = (folder / name).relative_to(root)
        paths.extend(os.fsencode(prefix / file) for file in names)
        labels.extend([label] * len(names))
    return paths, labels


@dataclass
class ScannedSplit:
    paths: np.ndarray  # (N,) bytes, relative to root
    labels: torch.Tensor  # (N,) int64


class ImageFileDataset(SourceDataset):
    """Images decoded from files on access; ``paths`` are relative to ``root``."""

    def __init__(self, root: str, paths: np.ndarray, labels: torch.Tensor, decoder: ImageDecoder,
                 input_shape: tuple[int, int, int]):
        super().__init__(labels, input_shape)
        self.root = root
        self.paths = paths
        self.decoder = decoder

    def path(self, index: int) -> str:
        return os.path.join(self.root, os.fsdecode(self.paths[index]))

    def read_input(self, index: int) -> torch.Tensor:
        path = self.path(index)
        _, height, width = self.input_shape
        try:
            with require_pillow().open(path) as image:
                if self.decoder.size is None and image.size != (width, height):
                    raise DataError(f"image {path} is {image.size[1]}x{image.size[0]} but the others are "
                                    f"{height}x{width}; set the resize option, e.g. resize: [{height}, {width}]")
                return self.decoder(image)  # (C, H, W) float32
        except DataError:
            raise
        except Exception as error:  # Pillow raises OSError, ValueError, SyntaxError, DecompressionBombError, ...
            raise DataError(f"cannot read image {path}: {one_line(error)}; fix or delete the file") from error


@DATA_SOURCES.register("image-folder")
class ImageFolderSource(DataSource):
    """PNG/JPEG images in one sub-folder per class (optionally under train/val/test); decoded in loader workers."""

    Options = ImageFolderOptions

    @cached_property
    def _scan(self) -> tuple[list[str], dict[str, ScannedSplit]]:
        """(class names, split -> paths and labels): one directory walk, no file opened."""
        root = user_path(self.options.root)
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist; set root to a folder with one sub-folder per class")
        split_dirs = {SPLIT_FOLDERS[name]: root / name for name in class_folders(root) if name in SPLIT_FOLDERS}
        class_root = split_dirs.get("train", root)
        class_names = class_folders(class_root)
        if not class_names:
            raise DataError(f"no class folders in {class_root}; expected {class_root}/<class>/*.png "
                            f"(or {class_root}/train/<class>/*.png and test/<class>/...)")
        if "train" not in split_dirs:  # one pool: cut it
            paths, labels = scan_classes(root, class_names, root)
            all_paths, all_labels = np.array(paths, dtype=bytes), torch.tensor(labels, dtype=torch.long)
            index = stratified_split(all_labels, self.options, f"image folder {root}")
            return class_names, {split: ScannedSplit(all_paths[rows.numpy()], all_labels[rows])
                                 for split, rows in index.items()}
        scanned = {}
        for split in ("train", "val", "test"):
            if split in split_dirs:
                extra = sorted(set(class_folders(split_dirs[split])) - set(class_names))
                if extra:
                    raise DataError(f"{split_dirs[split]} has class folder '{extra[0]}' that {class_root} lacks; "
                                    "add it to train/ or remove it")
                paths, labels = scan_classes(split_dirs[split], class_names, root)
                scanned[split] = ScannedSplit(np.array(paths, dtype=bytes), torch.tensor(labels, dtype=torch.long))
        return class_names, scanned

    @cached_property
    def _decoder_and_shape(self) -> tuple[ImageDecoder, tuple[int, int, int]]:
        _, scanned = self._scan
        first = next(iter(scanned.values()))
        first_path = os.path.join(self.options.root, os.fsdecode(first.paths[0]))
        size, file_mode = self._header(first_path)
        decoder = ImageDecoder(pil_mode(self.options.color, file_mode), self.options)
        if decoder.size is None:
            self._check_sizes(scanned, first_path, size)
        height, width = decoder.size if decoder.size is not None else (size[1], size[0])
        return decoder, (decoder.channels, height, width)

    @staticmethod
    def _header(path: str) -> tuple[tuple[int, int], str]:
        """(size (W, H), mode) from the file's header; Pillow does not decode pixels until asked."""
        try:
            with require_pillow().open(path) as image:
                return image.size, image.mode
        except Exception as error:
            raise DataError(f"cannot read image {path}: {one_line(error)}; fix or delete the file") from error

    def _check_sizes(self, scanned: dict[str, ScannedSplit], first_path: str, size: tuple[int, int]) -> None:
        for split in scanned.values():
            for relative in split.paths:
                path = os.path.join(self.options.root, os.fsdecode(relative))
                other, _ = self._header(path)
                if other != size:
                    raise DataError(f"images in {self.options.root} have mixed sizes ({first_path} is "
                                    f"{size[1]}x{size[0]}, {path} is {other[1]}x{other[0]}); set the resize option, "
                                    f"e.g. resize: [{size[1]}, {size[0]}]")

    @property
    def info(self) -> SourceInfo:
        class_names, scanned = self._scan
        _, input_shape = self._decoder_and_shape
        return SourceInfo(len(class_names), tuple(class_names), input_shape, tuple(scanned))

    def open(self, split: str) -> ImageFileDataset:
        self.check_split(split)
        decoder, input_shape = self._decoder_and_shape
        scanned = self._scan[1][split]
        return ImageFileDataset(self.options.root, scanned.paths, scanned.labels, decoder, input_shape)
