"""Hugging Face students leave the run as ``save_pretrained`` folders too, loadable without kdistill:

    RUN_DIR/distilled/pretrained/    ->  transformers.AutoModelForSequenceClassification.from_pretrained(folder)

The folder also gets the tokenizer files of a text run (from the recipe's ``data.options.tokenizer``), so
``AutoTokenizer.from_pretrained(folder)`` works on it as well. Models without ``save_pretrained`` are skipped.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from torch import nn

from kdistill.config import Recipe
from kdistill.models.hf_text import quiet_transformers

log = logging.getLogger("kdistill")
PRETRAINED_FOLDER = "pretrained"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def export_pretrained(models: dict[str, nn.Module], run_dir: Path, recipe: Recipe) -> list[Path]:
    """``save_pretrained`` every stage model that has it, into ``RUN_DIR/<stage>/pretrained``; returns the folders."""
    folders = []
    tokenizer = tokenizer_source(recipe)
    for stage, model in models.items():
        save = getattr(model, "save_pretrained", None)
        if not callable(save):
            continue
        folder = Path(run_dir) / stage / PRETRAINED_FOLDER
        with quiet_transformers():  # no "Writing model shards" progress bar per stage
            save(str(folder))
        if tokenizer is not None:
            for name in TOKENIZER_FILES:
                if (tokenizer / name).is_file():
                    shutil.copyfile(tokenizer / name, folder / name)
        folders.append(folder)
    if folders:
        log.info("exported Hugging Face folders (from_pretrained): %s", ", ".join(map(str, folders)))
    return folders


DEFAULT_TOKENIZERS = {"text": "minilm-l6", "lm-text": "smollm2-135m"}  # the text sources' default tokenizer option


def tokenizer_source(recipe: Recipe) -> Path | None:
    """The tokenizer folder a text recipe's data source reads (None for other data)."""
    if recipe.data.dataset not in DEFAULT_TOKENIZERS:
        return None
    name = recipe.data.options.get("tokenizer") or DEFAULT_TOKENIZERS[recipe.data.dataset]
    from kdistill.sources.text import tokenizer_folder

    return tokenizer_folder(str(name))
