"""Which data a recipe names: a built-in in-memory dataset, a registered data source with options, or a path.

    data: {dataset: mnist}                                          # built-in, held in memory (fast, cacheable)
    data: {dataset: image-folder, options: {root: pets/, resize: [64, 64]}}
    data: {dataset: pets/}                                          # a folder of class folders -> image-folder
    data: {dataset: arrays.npz}                                     # -> npz
    data: {dataset: table.csv, options: {target: label}}            # .csv / .parquet -> table

Sources (``kdistill.sources``) stream samples from disk: memory does not grow with the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdistill.config import DataSection
from kdistill.errors import ConfigError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def source_spec(section: DataSection) -> tuple[str, dict[str, Any]] | None:
    """(source name, its options) for a recipe's data section; None for a built-in in-memory dataset."""
    from kdistill.data.registry import DATASETS
    from kdistill.sources import DATA_SOURCES

    name = section.dataset
    if name in DATASETS and not section.options:
        return None
    if name in DATA_SOURCES:
        return name, dict(section.options)
    path = Path(name).expanduser()
    if path.exists():
        kind, key = path_kind(path)
        return kind, {key: str(path), **section.options}
    raise ConfigError(f"data.dataset '{name}' is neither a dataset ({', '.join(DATASETS.names())}), a data source "
                      f"({', '.join(DATA_SOURCES.names())}) nor an existing file or folder; check the name or path")


def path_kind(path: Path) -> tuple[str, str]:
    """The source that reads ``path``, and the option that takes it."""
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            return "hf-datasets", "path"  # written by datasets' save_to_disk
        return "image-folder", "root"
    suffixes = "".join(path.suffixes).lower()
    if path.suffix.lower() == ".npz":
        return "npz", "path"
    if any(suffix in suffixes for suffix in TABLE_SUFFIXES):
        return "table", "path"
    raise ConfigError(f"data.dataset {path} is a file kdistill cannot read as data: use a folder of class folders, "
                      "an .npz, a .csv or a .parquet file")


def check_data_section(section: DataSection) -> None:
    """Names and options only: nothing is read from disk."""
    spec = source_spec(section)
    if spec is not None:
        from kdistill.sources import open_source

        open_source(*spec, path="data.options")
