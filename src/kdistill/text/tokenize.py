"""Tokenisation, once per dataset: texts -> padded ``input_ids`` / ``attention_mask`` tensors.

A tokenizer is a Hugging Face *fast* tokenizer read from a folder's ``tokenizer.json`` (the pinned MiniLM folder, or
any ``save_pretrained`` folder); nothing is downloaded. Every sequence is padded (right) or truncated to
``max_length``; :func:`kdistill.text.padding.trim_padding` later cuts a batch to its longest real sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from kdistill.errors import ConfigError, DataError

TokenTensors = dict[str, torch.Tensor]  # {"input_ids": (N, T) int64, "attention_mask": (N, T) int64}


def require_transformers() -> Any:
    try:
        import transformers
    except ImportError as error:
        raise ConfigError("text models and tokenizers need transformers: pip install 'kdistill[text]'") from error
    return transformers


def load_tokenizer(folder: str | Path) -> Any:
    """The fast tokenizer saved in ``folder`` (its ``tokenizer.json``); a one-line DataError if there is none."""
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        raise DataError(f"{folder} holds no tokenizer.json; point the tokenizer at a folder written by "
                        "save_pretrained (or use tokenizer: minilm-l6)")
    transformers = require_transformers()
    return transformers.PreTrainedTokenizerFast.from_pretrained(str(folder))


def encode(texts: Sequence[str], tokenizer: Any, max_length: int) -> TokenTensors:
    """``(N, max_length)`` token ids and 0/1 attention mask (1 = a real token, 0 = padding)."""
    if max_length < 2:
        raise ConfigError(f"max_length must be >= 2 (room for [CLS] and [SEP]); got {max_length}")
    encoded = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                        return_tensors="pt", return_token_type_ids=False)
    return {"input_ids": encoded["input_ids"].long(), "attention_mask": encoded["attention_mask"].long()}
