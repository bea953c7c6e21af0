"""Documents -> fixed-length token blocks for next-token training, split by document (never by block).

    splits = document_splits(len(documents), SplitOptions(val_fraction=0.05, test_fraction=0.05, split_seed=0))
    blocks = token_blocks([ids_of(documents[i]) for i in splits["train"]], length=128, separator=eos_id)  # (N, 128)

A split's documents are concatenated in document order, each followed by ``separator`` (the tokenizer's end of text),
and cut into blocks of ``length`` tokens; the tail shorter than a block is dropped. A block never mixes splits, so no
held-out article leaks into training, but it may span two documents of one split, as in GPT-style pre-training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from kdistill.errors import DataError

if TYPE_CHECKING:
    from kdistill.sources.splits import SplitOptions

IGNORE_INDEX = -100


def document_splits(count: int, options: SplitOptions, what: str) -> dict[str, torch.Tensor]:
    """Sorted document indices per split: the sources' seeded split with every document in one class, so each split
    gets round(count * fraction) whole documents drawn from ``options.split_seed``."""
    from kdistill.sources.splits import stratified_split  # here: kdistill.sources imports this module's source

    return stratified_split(torch.zeros(count, dtype=torch.long), options, what)


def token_blocks(documents: Sequence[Sequence[int]], length: int, separator: int | None) -> torch.Tensor:
    """(N, length) int64 blocks of the concatenated documents (see the module docstring); (0, length) if too short."""
    if length < 2:
        raise DataError(f"a token block needs at least 2 tokens (an input and its next token); got {length}")
    stream: list[int] = []
    for tokens in documents:
        stream.extend(tokens)
        if separator is not None:
            stream.append(separator)
    usable = len(stream) // length * length
    return torch.tensor(stream[:usable], dtype=torch.long).view(-1, length)


def next_token_labels(input_ids: torch.Tensor) -> torch.Tensor:
    """(..., T) -> (..., T) targets: position t predicts token t + 1; the last position has none (ignored, -100)."""
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[..., :-1] = input_ids[..., 1:]
    return labels
