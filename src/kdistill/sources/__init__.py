"""Data sources: registered readers of the user's data (folders, arrays, tables, HF datasets, CIFAR, built-ins).

    from kdistill.sources import AugmentOptions, open_source, source_loader
    source = open_source("image-folder", {"root": "pets/", "resize": [64, 64]})   # validated options
    source.info                      # SourceInfo(num_classes, class_names, input_shape, splits)
    train = source.open("train")     # map-style Dataset: train[i] = {"inputs", "labels", "index": i}
    loader = source_loader(train, batch_size=64, seed=0, augment=AugmentOptions(flip=True, crop_padding=4),
                           views=4, num_workers=2)
    loader.set_epoch(1)              # order from (seed, epoch), view (epoch - 1) mod views

Registered: ``kdistill.sources.DATA_SOURCES.names()``; each entry's ``Options`` dataclass lists its options.
"""

from kdistill.sources import builtin, cifar, hf, image_folder, lm_text, npz, table, text  # noqa: F401  (register them)
from kdistill.sources.augment import AugmentedDataset, AugmentOptions, AugmentParams, apply_augment, augment_params
from kdistill.sources.base import (
    DATA_SOURCES,
    DataSource,
    Sample,
    SourceDataset,
    SourceInfo,
    open_source,
    parse_options,
    source_options,
)
from kdistill.sources.loader import EpochSampler, SourceCollate, SourceLoader, source_loader
from kdistill.sources.mix import MixParams, apply_mix, mix_batch, mix_params
from kdistill.sources.splits import SplitOptions, stratified_split

__all__ = [
    "DATA_SOURCES",
    "AugmentOptions",
    "AugmentParams",
    "AugmentedDataset",
    "DataSource",
    "EpochSampler",
    "MixParams",
    "Sample",
    "SourceCollate",
    "SourceDataset",
    "SourceInfo",
    "SourceLoader",
    "SplitOptions",
    "apply_augment",
    "apply_mix",
    "augment_params",
    "mix_batch",
    "mix_params",
    "open_source",
    "parse_options",
    "source_loader",
    "source_options",
    "stratified_split",
]
