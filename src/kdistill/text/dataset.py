"""Tokenised sentences as a map-style dataset of contract samples, and a loader that batches similar lengths.

    data = TokenDataset(encode(texts, tokenizer, 64), torch.tensor(labels))
    data[0]   # {"inputs": {"input_ids": (64,), "attention_mask": (64,)}, "labels": (), "index": 0}
    loader = text_loader(data, batch_size=32, seed=0)    # batches trimmed to their longest sentence
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.dataloader import default_collate

from kdistill.data.loader import epoch_seed
from kdistill.errors import ConfigError, ShapeError
from kdistill.sources.base import SourceDataset
from kdistill.text.padding import trim_padding
from kdistill.text.tokenize import TokenTensors

BUCKET_BATCHES = 50  # how many batches' worth of sentences are sorted by length together


class TokenDataset(SourceDataset):
    """``tokens`` {"input_ids", "attention_mask"} (N, T) and ``labels`` (N,); ``labels=None`` for unlabelled text."""

    def __init__(self, tokens: TokenTensors, labels: torch.Tensor | None = None):
        count = len(tokens["input_ids"])
        if any(len(value) != count for value in tokens.values()) or (labels is not None and len(labels) != count):
            raise ShapeError(f"token tensors and labels differ in length: "
                             f"{ {k: len(v) for k, v in tokens.items()} }, labels {None if labels is None else len(labels)}")
        self.labelled = labels is not None
        super().__init__(labels if labels is not None else torch.zeros(count, dtype=torch.long),
                         {key: tuple(value.shape[1:]) for key, value in tokens.items()})
        self.tokens = tokens

    def read_input(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.tokens.items()}

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = super().__getitem__(index)
        if not self.labelled:
            del sample["labels"]
        return sample

    def lengths(self) -> torch.Tensor:
        """(N,) real tokens per sentence."""
        return self.tokens["attention_mask"].ne(0).sum(dim=1)


class LengthBuckets(Sampler):
    """Batches of sentences of similar length, in an order drawn from (seed, epoch).

    Each epoch: a seeded permutation, cut into chunks of ``BUCKET_BATCHES`` batches, each chunk sorted by length and
    cut into batches, then the batches shuffled; so a batch of short sentences is trimmed short (see ``padding.py``)
    and the per-epoch order is still random and reproducible. ``shuffle=False`` keeps the dataset order.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, seed: int = 0, shuffle: bool = True):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        self.lengths, self.batch_size, self.seed, self.shuffle = lengths, batch_size, seed, shuffle
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        count = len(self.lengths)
        if not self.shuffle:
            order = torch.arange(count)
            return [order[i:i + self.batch_size].tolist() for i in range(0, count, self.batch_size)]
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        order = torch.randperm(count, generator=generator)
        chunk = self.batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, count, chunk):
            part = order[start:start + chunk]
            part = part[torch.sort(self.lengths[part], stable=True).indices]
            batches += [part[i:i + self.batch_size].tolist() for i in range(0, len(part), self.batch_size)]
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in shuffled]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def collate_trimmed(samples: list[dict[str, Any]]) -> dict[str, Any]:
    batch = default_collate(samples)
    batch["inputs"] = trim_padding(batch["inputs"])
    return batch


class TextLoader(DataLoader):
    """A DataLoader whose ``set_epoch`` (called by the training loop) reaches its :class:`LengthBuckets`."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)


def text_loader(dataset: TokenDataset, batch_size: int, seed: int = 0, shuffle: bool = True) -> TextLoader:
    """A loader of trimmed, length-bucketed batches ``{"inputs": {...}, "labels", "index"}`` (see above)."""
    return TextLoader(dataset, batch_sampler=LengthBuckets(dataset.lengths(), batch_size, seed, shuffle),
                      collate_fn=collate_trimmed)
