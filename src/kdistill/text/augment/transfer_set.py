"""N augmented copies of every sentence, seeded per sentence, and a cache for the resulting transfer set.

Copy c of sentence i draws its random numbers from ``sentence_generator(seed, i, c)`` alone, so the transfer set does
not depend on batching, order or how many sentences are augmented at once; it is cached as ``.npz`` (integer arrays,
loaded without pickle) under a name derived from everything it depends on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdistill.atomic import atomic_path
from kdistill.errors import ConfigError
from kdistill.text.tokenize import TokenTensors

Replacer = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def sentence_generator(seed: int, index: int, copy: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + index * 7_919 + copy * 104_729 + 17) % (2**63 - 1))


def augment_tokens(tokens: TokenTensors, copies: int, replacer: Replacer, seed: int) -> tuple[TokenTensors,
                                                                                                torch.Tensor]:
    """(copies·N sentences, (copies·N,) index of each copy's original); copy-major: copy c of sentence i is row
    c·N + i. The attention mask is the original's (a replaced word keeps its position)."""
    if copies < 1:
        raise ConfigError(f"copies must be >= 1; got {copies}")
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    prepare = getattr(replacer, "prepare", None)
    if callable(prepare):  # e.g. neighbour tables for every distinct token, in large matrix products
        prepare(ids.unique().tolist())
    rows = [replacer(ids[i], mask[i], sentence_generator(seed, i, c)) for c in range(copies) for i in range(len(ids))]
    origin = torch.arange(len(ids)).repeat(copies)
    return {"input_ids": torch.stack(rows), "attention_mask": mask.repeat(copies, 1)}, origin


def tokens_digest(tokens: TokenTensors) -> str:
    digest = hashlib.sha256()
    for key in sorted(tokens):
        digest.update(key.encode())
        digest.update(tokens[key].numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_transfer_set(folder: str | Path, tokens: TokenTensors, copies: int, replacer: Any, seed: int) -> tuple[
        TokenTensors, torch.Tensor]:
    """:func:`augment_tokens`, read from ``folder`` when the same inputs, settings and seed were augmented before."""
    key = json.dumps({"tokens": tokens_digest(tokens), "copies": copies, "seed": seed,
                      "replacer": replacer.fingerprint()}, sort_keys=True)
    path = Path(folder) / f"transfer-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return ({"input_ids": torch.from_numpy(stored["input_ids"]),
                     "attention_mask": torch.from_numpy(stored["attention_mask"])},
                    torch.from_numpy(stored["origin"]))
    augmented, origin = augment_tokens(tokens, copies, replacer, seed)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, input_ids=augmented["input_ids"].numpy(),
                     attention_mask=augmented["attention_mask"].numpy(), origin=origin.numpy())
    return augmented, origin
