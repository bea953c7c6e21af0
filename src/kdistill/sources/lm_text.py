"""``lm-text``: a corpus of documents tokenised into fixed-length blocks for next-token training (language models).

    data:
      dataset: lm-text
      options: {corpus: news-articles, tokenizer: smollm2-135m, block_length: 128, train_blocks: 800,
                val_blocks: 32, test_blocks: 64}

``corpus``: ``news-articles`` (split by article), ``shakespeare`` (split by play), or a folder of UTF-8 ``.txt`` files
(one document per file). Documents are split into train / val / test first (seeded, ``val_fraction`` /
``test_fraction`` of the documents), then each split is tokenised and cut into blocks (``kdistill.lm.blocks``), so no
block holds text of two splits. ``*_blocks`` take a seeded subset of a split's blocks (None: all).

Each sample is ``{"inputs": {"input_ids": (T,)}, "labels": (T,) next-token ids (last = -100), "index"}``; the model's
logits are (B, T, V) with V the tokenizer's vocabulary (``info.num_classes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from kdistill.data.splits import subset_indices
from kdistill.errors import ConfigError, DataError
from kdistill.lm.blocks import document_splits, next_token_labels, token_blocks
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceDataset, SourceInfo, user_path
from kdistill.sources.splits import SplitOptions

TOKENIZE_BATCH = 256  # documents per tokenizer call


@dataclass(kw_only=True)
class LanguageModelTextOptions(SplitOptions):
    corpus: str = "news-articles"  # news-articles | shakespeare | a folder of .txt files
    tokenizer: str = "smollm2-135m"  # a pinned pretrained model, or a folder holding tokenizer.json
    block_length: int = 128
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    train_blocks: int | None = None  # seeded subsets of each split's blocks (None: all of them)
    val_blocks: int | None = None
    test_blocks: int | None = None

    def __post_init__(self) -> None:
        SplitOptions.__post_init__(self)
        if self.val_fraction <= 0 or self.test_fraction <= 0:
            raise ConfigError("data.options.val_fraction and test_fraction must be > 0: lm-text holds out whole "
                              "documents for validation and testing")
        if self.block_length < 2:
            raise ConfigError(f"data.options.block_length must be >= 2; got {self.block_length}")
        for name in ("train_blocks", "val_blocks", "test_blocks"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"data.options.{name} must be >= 1 (or null for all blocks); got "
                                  f"{getattr(self, name)}")


class TokenBlocks(SourceDataset):
    """(N, T) token blocks as next-token samples; ``labels`` (N,) are zeros (blocks have no class)."""

    def __init__(self, blocks: torch.Tensor):
        super().__init__(torch.zeros(len(blocks), dtype=torch.long), {"input_ids": tuple(blocks.shape[1:])})
        self.blocks = blocks  # (N, T) int64

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = super().__getitem__(index)
        sample["labels"] = next_token_labels(sample["inputs"]["input_ids"])  # (T,)
        return sample

    def read_input(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[index]}


def read_text_folder(folder: Path) -> list[str]:
    paths = sorted(folder.glob("*.txt"))
    if not paths:
        raise DataError(f"{folder} holds no .txt file; put one document per UTF-8 .txt file there")
    return [path.read_text(encoding="utf-8") for path in paths]


def corpus_texts(corpus: str) -> list[str]:
    from kdistill.data.document_corpora import DOCUMENT_CORPORA, load_documents

    if corpus in DOCUMENT_CORPORA:
        return [document.text for document in load_documents(corpus)]
    folder = user_path(corpus)
    if not folder.is_dir():
        raise ConfigError(f"data.options.corpus must be one of {', '.join(DOCUMENT_CORPORA)} or a folder of .txt "
                          f"files; got {corpus!r}")
    return read_text_folder(folder)


def tokenize_documents(texts: list[str], tokenizer: Any) -> list[list[int]]:
    ids: list[list[int]] = []
    for start in range(0, len(texts), TOKENIZE_BATCH):
        ids += tokenizer(texts[start:start + TOKENIZE_BATCH], add_special_tokens=False)["input_ids"]
    return ids


@DATA_SOURCES.register("lm-text")
class LanguageModelTextSource(DataSource):
    """Documents (news-articles, shakespeare, or .txt files) split by document, tokenised into next-token blocks."""

    Options = LanguageModelTextOptions
    task = "language-model"  # kdistill run trains these with the language-model pipeline (kdistill.lm.pipeline)

    @cached_property
    def tokenizer(self) -> Any:
        from kdistill.sources.text import tokenizer_folder
        from kdistill.text import load_tokenizer

        return load_tokenizer(tokenizer_folder(self.options.tokenizer))

    @cached_property
    def _splits(self) -> dict[str, TokenBlocks]:
        texts = corpus_texts(self.options.corpus)
        documents = document_splits(len(texts), self.options, f"corpus {self.options.corpus}")
        # GPT-style document separator: <|endoftext|> where the vocabulary has it (SmolLM2's eos is the chat
        # template's <|im_end|>), else the end-of-sequence token
        separator = self.tokenizer.get_vocab().get("<|endoftext|>", self.tokenizer.eos_token_id)
        sizes = {"train": self.options.train_blocks, "val": self.options.val_blocks,
                 "test": self.options.test_blocks}
        splits = {}
        for split, index in documents.items():
            blocks = token_blocks(tokenize_documents([texts[i] for i in index.tolist()], self.tokenizer),
                                  self.options.block_length, separator)
            if len(blocks) == 0:
                raise DataError(f"the {split} documents of corpus {self.options.corpus} hold fewer than "
                                f"{self.options.block_length} tokens; lower block_length or raise {split}_fraction")
            if sizes[split] is not None and sizes[split] < len(blocks):
                blocks = blocks[subset_indices(torch.zeros(len(blocks)), sizes[split], self.options.split_seed,
                                               stratified=False)]
            splits[split] = TokenBlocks(blocks)
        return splits

    @cached_property
    def info(self) -> SourceInfo:
        vocabulary = self.tokenizer.get_vocab()  # the "classes" of next-token prediction are the tokens, by id
        names = [""] * len(self.tokenizer)
        for token, index in vocabulary.items():
            if index < len(names):
                names[index] = token
        return SourceInfo(len(names), tuple(names), {"input_ids": (self.options.block_length,)},
                          self.options.split_names())

    def open(self, split: str) -> TokenBlocks:
        self.check_split(split)
        return self._splits[split]
