"""``hf-datasets``: a folder written by ``datasets.Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``.

The Arrow files are memory-mapped by ``datasets``; rows are read and decoded in ``__getitem__``. Column mapping:
``inputs`` names one column (the sample's inputs are that tensor) or several (a dict of tensors, passed to the model
as keyword arguments), ``label`` the class column (ClassLabel, integers or strings). Image columns decode like
image-folder files (ImageOptions); numeric columns become tensors (floats -> float32, integers -> int64, e.g. token
ids). A DatasetDict's splits are used as they are ("validation", "valid" and "dev" are called "val"); a single Dataset
is cut by a seeded stratified split. ``datasets`` is an optional dependency: ``pip install 'kdistill[hf]'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from kdistill.errors import DataError
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceDataset, SourceInfo, one_line, user_path
from kdistill.sources.images import ImageDecoder, ImageOptions, pil_mode
from kdistill.sources.splits import SplitOptions, stratified_split

VAL_NAMES = ("validation", "valid", "dev")


@dataclass(kw_only=True)
class HFDatasetsOptions(ImageOptions, SplitOptions):
    """``path``: the save_to_disk folder; ``inputs``: column or list of columns; ``label``: the class column;
    image decoding options from ImageOptions; val/test fractions for a single (unsplit) Dataset."""

    path: str
    inputs: str | list[str] = "image"
    label: str = "label"

    def __post_init__(self) -> None:
        ImageOptions.__post_init__(self)
        SplitOptions.__post_init__(self)

    @property
    def input_columns(self) -> list[str]:
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)


def require_datasets() -> Any:
    try:
        import datasets
    except ImportError as error:
        raise DataError("the hf-datasets source needs the `datasets` package; install it with "
                        "`pip install 'kdistill[hf]'`") from error
    return datasets


def is_pil_image(value: Any) -> bool:
    return hasattr(value, "convert") and hasattr(value, "size") and hasattr(value, "mode")


class ValueConverter:
    """One column value -> tensor: PIL images through the image decoder, numbers by dtype (see module doc)."""

    def __init__(self, decoder: ImageDecoder | None):
        self.decoder = decoder

    def __call__(self, value: Any, column: str) -> torch.Tensor:
        if is_pil_image(value):
            if self.decoder is None:
                raise DataError(f"column '{column}' holds images but its first row did not; store one kind per column")
            return self.decoder(value)  # (C, H, W) float32
        array = np.asarray(value)
        if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating):
            return torch.from_numpy(array.astype(np.float32))
        if np.issubdtype(array.dtype, np.integer):
            return torch.from_numpy(array.astype(np.int64))
        raise DataError(f"column '{column}' holds {array.dtype} values, not numbers or images; tokenize text first "
                        "or choose other inputs columns")


class HFRowsDataset(SourceDataset):
    """Rows of a ``datasets.Dataset`` (memory-mapped Arrow); inputs converted on access."""

    def __init__(self, table: Any, columns: list[str], labels: torch.Tensor, converter: ValueConverter,
                 input_shape: Any, single: bool):
        super().__init__(labels, input_shape)
        self.table = table
        self.columns = columns
        self.converter = converter
        self.single = single

    def read_input(self, index: int) -> Any:
        row = self.table[index]
        values = {column: self.converter(row[column], column) for column in self.columns}
        if self.decoder_size_unset:
            self._check_shapes(values, index)
        return values[self.columns[0]] if self.single else values

    @property
    def decoder_size_unset(self) -> bool:
        decoder = self.converter.decoder
        return decoder is not None and decoder.size is None

    def _check_shapes(self, values: dict[str, torch.Tensor], index: int) -> None:
        shapes = {self.columns[0]: self.input_shape} if self.single else self.input_shape
        for column, value in values.items():
            if is_image_shape(shapes[column]) and tuple(value.shape) != tuple(shapes[column]):
                raise DataError(f"row {index} of column '{column}' is an image of {tuple(value.shape)} but the first "
                                f"is {tuple(shapes[column])}; set the resize option")


def is_image_shape(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3)


@DATA_SOURCES.register("hf-datasets")
class HFDatasetsSource(DataSource):
    """A Hugging Face datasets folder from save_to_disk (Dataset or DatasetDict); needs the `datasets` package."""

    Options = HFDatasetsOptions

    @cached_property
    def _loaded(self) -> dict[str, Any]:
        """Saved split name (or "all" for a single Dataset) -> datasets.Dataset of the mapped columns."""
        datasets = require_datasets()
        path = user_path(self.options.path)
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, NotADirectoryError, ValueError) as error:
            raise DataError(f"{path} is not a folder written by datasets' save_to_disk ({one_line(error)})") from error
        tables = dict(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else {"all": loaded}
        wanted = [*self.options.input_columns, self.options.label]
        for table in tables.values():
            missing = [column for column in wanted if column not in table.column_names]
            if missing:
                raise DataError(f"column '{missing[0]}' is not in {path}; columns: {', '.join(table.column_names)}")
        return {name: table.select_columns(wanted) for name, table in tables.items()}

    @cached_property
    def _splits(self) -> tuple[dict[str, Any], dict[str, torch.Tensor], tuple[str, ...]]:
        """(split -> table, split -> class ids (N,), class names); string labels are numbered in sorted order."""
        column = self.options.label
        tables = self._loaded
        feature = next(iter(tables.values())).features[column]
        raw = {name: np.asarray(table[column]) for name, table in tables.items()}
        if hasattr(feature, "names"):  # ClassLabel
            names = tuple(feature.names)
            ids = {name: values.astype(np.int64) for name, values in raw.items()}
        elif all(np.issubdtype(values.dtype, np.integer) for values in raw.values()):
            ids = {name: values.astype(np.int64) for name, values in raw.items()}
            top = max((int(values.max()) for values in ids.values() if len(values)), default=0)
            names = tuple(str(i) for i in range(top + 1))
        else:
            distinct = sorted({str(value) for values in raw.values() for value in values.tolist()})
            lookup = {name: i for i, name in enumerate(distinct)}
            ids = {name: np.array([lookup[str(v)] for v in values.tolist()], dtype=np.int64)
                   for name, values in raw.items()}
            names = tuple(distinct)
        if any(len(values) and values.min() < 0 for values in ids.values()):
            raise DataError(f"label column '{column}' of {self.options.path} has negative ids; drop those rows")
        labels = {name: torch.from_numpy(values) for name, values in ids.items()}
        if "all" in tables:  # a single Dataset: cut it
            rows = stratified_split(labels["all"], self.options, f"dataset {self.options.path}")
            return ({split: tables["all"].select(index.tolist()) for split, index in rows.items()},
                    {split: labels["all"][index] for split, index in rows.items()}, names)
        split_names = {name: "val" if name in VAL_NAMES else name for name in tables}
        if len(set(split_names.values())) < len(split_names):
            raise DataError(f"{self.options.path} has two validation splits ({', '.join(tables)}); keep one")
        return ({split_names[name]: table for name, table in tables.items()},
                {split_names[name]: ids for name, ids in labels.items()}, names)

    @cached_property
    def _converter_and_shape(self) -> tuple[ValueConverter, Any]:
        tables, _, _ = self._splits
        table = tables["train" if "train" in tables else next(iter(tables))]
        row = table[0]
        columns = self.options.input_columns
        images = [row[column] for column in columns if is_pil_image(row[column])]
        decoder = ImageDecoder(pil_mode(self.options.color, images[0].mode), self.options) if images else None
        converter = ValueConverter(decoder)
        shapes = {column: tuple(converter(row[column], column).shape) for column in columns}
        return converter, shapes[columns[0]] if isinstance(self.options.inputs, str) else shapes

    @property
    def info(self) -> SourceInfo:
        tables, _, names = self._splits
        _, input_shape = self._converter_and_shape
        return SourceInfo(len(names), names, input_shape, tuple(tables))

    def open(self, split: str) -> HFRowsDataset:
        self.check_split(split)
        tables, labels, _ = self._splits
        converter, input_shape = self._converter_and_shape
        return HFRowsDataset(tables[split].select_columns(self.options.input_columns), self.options.input_columns,
                             labels[split], converter, input_shape, isinstance(self.options.inputs, str))
