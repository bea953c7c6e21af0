"""Datasets over arrays (in memory or memory-mapped), converted to float32 tensors one sample at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from kdistill.errors import ConfigError, DataError
from kdistill.sources.base import SourceDataset

LAYOUTS = ("auto", "nhwc", "raw")


class ArrayConverter:
    """One stored sample -> float32 tensor. uint8 pixels are scaled to [0, 1] when ``scale_uint8``.

    ``layout``: "auto" gives (H, W) samples a channel axis -> (1, H, W) and keeps (C, H, W) and (F,) as stored;
    "nhwc" turns (H, W, C) samples into (C, H, W); "raw" keeps every sample as stored.
    """

    def __init__(self, layout: str = "auto", scale_uint8: bool = True):
        if layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}; got '{layout}'")
        self.layout = layout
        self.scale_uint8 = scale_uint8

    def shape(self, stored: tuple[int, ...]) -> tuple[int, ...]:
        """The shape one converted sample has, from the stored shape of one sample."""
        if self.layout == "auto" and len(stored) == 2:
            return (1, *stored)
        if self.layout == "nhwc":
            if len(stored) != 3:
                raise ConfigError(f"layout 'nhwc' needs (N, H, W, C) arrays; one sample is {stored}")
            return (stored[2], stored[0], stored[1])
        return tuple(stored)

    def __call__(self, sample: Any) -> torch.Tensor:
        if isinstance(sample, torch.Tensor):
            array = sample.clone()  # a row of an in-memory tensor is a view: callers may change it in place
        else:
            array = torch.from_numpy(np.array(sample, copy=True))  # copy: a memmap slice must not outlive its map
        scaled = array.dtype == torch.uint8 and self.scale_uint8
        array = array.float()
        if scaled:
            array = array.div_(255.0)
        if self.layout == "auto" and array.ndim == 2:
            return array.unsqueeze(0)  # (1, H, W)
        if self.layout == "nhwc":
            return array.permute(2, 0, 1).contiguous()  # (C, H, W)
        return array


class ArrayDataset(SourceDataset):
    """Samples ``convert(inputs[i])``; ``inputs`` is any array indexable by an int (ndarray, memmap, tensor)."""

    def __init__(self, inputs: Any, labels: torch.Tensor, converter: ArrayConverter):
        if len(inputs) != len(labels):
            raise DataError(f"inputs and labels differ in length ({len(inputs)} vs {len(labels)})")
        super().__init__(labels, converter.shape(tuple(inputs.shape[1:])))
        self.inputs = inputs
        self.converter = converter

    def read_input(self, index: int) -> torch.Tensor:
        return self.converter(self.inputs[index])


def labels_tensor(labels: np.ndarray, what: str) -> torch.Tensor:
    """(N,) integer class ids as int64; DataError naming ``what`` for another shape, dtype or negative ids."""
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise DataError(f"{what} must be a 1-D array of integer class ids; got {labels.dtype}{labels.shape}")
    tensor = torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())
    if len(tensor) and int(tensor.min()) < 0:
        raise DataError(f"{what} has negative class ids (min {int(tensor.min())}); class ids must be 0, 1, ...")
    return tensor
