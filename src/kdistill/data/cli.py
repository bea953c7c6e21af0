"""``kdistill data fetch NAME`` and ``kdistill data list``; the lead wires these into the main CLI."""

from __future__ import annotations

import argparse

from kdistill.cli_parsers import add_data_commands  # noqa: F401  (defined there, without heavy imports)
from kdistill.data.fashion_mnist import SYSTEM_DIR, fashion_mnist_cache_path
from kdistill.data.mnist import mnist_cache_path
from kdistill.data.paths import data_dir
from kdistill.data.registry import DATASETS, load_dataset
from kdistill.data.sources import source_path


def cache_status(name: str) -> str:
    """'cached', 'source fetched', 'installed' or 'missing' (digits is bundled with scikit-learn)."""
    if name == "digits":
        return "bundled with scikit-learn"
    cache = {"mnist": mnist_cache_path, "fashion-mnist": fashion_mnist_cache_path}[name]()
    if cache.exists():
        return "cached"
    if name == "fashion-mnist" and SYSTEM_DIR.is_dir():
        return "installed (system package)"
    return "source fetched" if source_path(name).exists() else "missing"


def run_data_command(args: argparse.Namespace) -> int:
    """Run a parsed ``data`` command; return the exit status. DataErrors propagate for the CLI to print."""
    if args.data_command == "fetch":
        dataset = load_dataset(args.name, download=True)
        print(
            f"{args.name}: {len(dataset.train_labels)} train / {len(dataset.test_labels)} test, "
            f"input {dataset.input_shape}, {dataset.num_classes} classes; cache in {data_dir()}"
        )
        return 0
    if args.data_command == "list":
        width = max(len(name) for name in DATASETS.names())
        for name, description in DATASETS.describe().items():
            print(f"{name:<{width}}  [{cache_status(name)}]  {description}")
        return 0
    raise ValueError(f"unknown data command {args.data_command!r}")
