"""Tiny randomly initialised BERTs and token batches for the text tests: nothing is downloaded.

A module of its own, not conftest.py: test modules import these by name, and a bare ``from conftest import`` finds
whichever conftest module Python imported first (tests/sources' when both folders run together).
"""

import torch

from kdistill.models import build_model
from kdistill.text.dataset import TokenDataset
VOCAB, LENGTH, MARK = 40, 10, 7
SHAPE = {"input_ids": (LENGTH,), "attention_mask": (LENGTH,)}


def token_data(count: int = 48, seed: int = 0) -> TokenDataset:
    """Right-padded token ids (pad 0, [CLS] 1, [SEP] 2, words 4..VOCAB-1) of varying lengths; label = MARK occurs."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (count, LENGTH), generator=generator)
    lengths = torch.randint(3, LENGTH + 1, (count,), generator=generator)
    mask = (torch.arange(LENGTH) < lengths[:, None]).long()
    ids[:, 0] = 1
    ids[torch.arange(count), lengths - 1] = 2
    ids = ids * mask
    labels = (ids == MARK).any(dim=1).long()
    return TokenDataset({"input_ids": ids, "attention_mask": mask}, labels)


def tiny_bert(layers: int = 4, hidden: int = 32, heads: int = 4, seed: int = 0, dropout: float = 0.0):
    torch.manual_seed(seed)
    return build_model("bert-classifier", SHAPE, 2, vocab_size=VOCAB, hidden=hidden, layers=layers, heads=heads,
                       dropout=dropout)
