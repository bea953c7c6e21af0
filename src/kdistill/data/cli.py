"""``kdistill data fetch NAME`` and ``kdistill data list``; the lead wires these into the main CLI."""

from __future__ import annotations

import argparse

from kdistill.cli_parsers import TEXT_FILES, add_data_commands  # noqa: F401  (defined there, no heavy imports)
from kdistill.data import fashion_mnist, mnist  # noqa: F401  (register their conversions; numpy only, no torch)
from kdistill.data.converted import CONVERSIONS, inspect_cache, repair_converted
from kdistill.data.fashion_mnist import SYSTEM_DIR
from kdistill.data.paths import data_dir
from kdistill.data.sources import SOURCES, source_path, verify_checksum
from kdistill.errors import DataError


def cache_status(name: str) -> str:
    """One word or phrase for ``data list``: cached, corrupt, unverified, source fetched, corrupt source, installed
    (system package), missing; digits is bundled with scikit-learn. Hashes files, never parses a dataset."""
    if name not in CONVERSIONS:
        return "bundled with scikit-learn" if name == "digits" else "registered"
    state, _ = inspect_cache(CONVERSIONS[name])
    if state.status != "missing":
        return state.status
    if name == "fashion-mnist" and SYSTEM_DIR.is_dir():
        return "installed (system package)"
    if name not in SOURCES or not source_path(name).exists():
        return "missing"
    try:
        verify_checksum(source_path(name), SOURCES[name].sha256, name)
    except DataError:
        return "corrupt source"
    return "source fetched"


def registered_datasets(plugins: list[str] | None = None) -> dict[str, str]:
    """{name: description} of the registered datasets, read without importing torch unless plugins add some."""
    from kdistill.listing import listed, needs_import

    if needs_import(plugins, "kdistill.data.registry"):
        from kdistill.data.registry import DATASETS

        return DATASETS.describe()
    return listed("datasets")


def fetch_text_file(name: str) -> str:
    """Fetch (or repair) a text corpus or pretrained model and extract it again; a one-line summary."""
    from kdistill.data.document_corpora import DOCUMENT_CORPORA, load_documents
    from kdistill.data.pretrained import PRETRAINED, pretrained_folder
    from kdistill.data.text_corpora import load_corpus

    if name in PRETRAINED:
        return f"model files in {pretrained_folder(name, rebuild=True)}"
    if name in DOCUMENT_CORPORA:
        documents = load_documents(name, rebuild=True)
        characters = sum(len(document.text) for document in documents)
        return f"{len(documents)} documents, {characters:,} characters; cache in {data_dir() / name}"
    corpus = load_corpus(name, rebuild=True)
    return f"{len(corpus.texts)} texts, targets {', '.join(corpus.targets)}; cache in {data_dir() / name}"


def run_data_command(args: argparse.Namespace) -> int:
    """Run a parsed ``data`` command; return the exit status. DataErrors propagate for the CLI to print."""
    if args.data_command == "fetch":
        if args.name in TEXT_FILES:
            print(f"{args.name}: {fetch_text_file(args.name)}")
            return 0
        if args.name in CONVERSIONS:
            found = repair_converted(CONVERSIONS[args.name])
            if found.status in ("corrupt", "unverified"):
                print(f"{args.name}: rebuilt the {found.status} cache")
        from kdistill.data.registry import load_dataset

        dataset = load_dataset(args.name, download=True)
        print(
            f"{args.name}: {len(dataset.train_labels)} train / {len(dataset.test_labels)} test, "
            f"input {dataset.input_shape}, {dataset.num_classes} classes; cache in {data_dir()}"
        )
        return 0
    if args.data_command == "list":
        described = registered_datasets(getattr(args, "plugins", None))
        width = max(len(name) for name in described)
        statuses = {name: cache_status(name) for name in described}
        for name, description in described.items():
            print(f"{name:<{width}}  [{statuses[name]}]  {description}")
        broken = [name for name, status in statuses.items() if "corrupt" in status]
        if broken:
            print(f"repair with: {'; '.join(f'kdistill data fetch {name}' for name in broken)}")
        return 0
    raise ValueError(f"unknown data command {args.data_command!r}")
