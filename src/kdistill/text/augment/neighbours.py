"""Word replacement by nearest neighbours in the teacher's input-embedding space.

Only whole words are replaced: a token that is replaceable (a vocabulary entry that is not special and not a ``##``
continuation piece; see :func:`replaceable_tokens`) and is not followed by a continuation piece. Its neighbours are
the K replaceable tokens with the highest cosine similarity to it (itself excluded), computed once per distinct token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from kdistill.errors import ConfigError

CHUNK = 512  # rows of the similarity matrix computed at once: 512 x 30k floats = 60 MB


def replaceable_tokens(tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(replaceable (V,) bool, continuation (V,) bool) from a WordPiece tokenizer's vocabulary: replaceable tokens are
    alphabetic whole-word pieces that are not special tokens; continuation pieces start with ``##``."""
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    replaceable, continuation = torch.zeros(size, dtype=torch.bool), torch.zeros(size, dtype=torch.bool)
    special = set(tokenizer.all_special_ids)
    for token, index in vocab.items():
        continuation[index] = token.startswith("##")
        replaceable[index] = token.isalpha() and index not in special and not token.startswith("[")
    return replaceable, continuation


def word_positions(ids: torch.Tensor, mask: torch.Tensor, replaceable: torch.Tensor,
                   continuation: torch.Tensor) -> torch.Tensor:
    """(T,) bool: real tokens that are replaceable whole words (not followed by a ``##`` piece)."""
    following = torch.cat([ids[1:], ids.new_zeros(1)])
    followed_by_piece = continuation[following] & torch.cat([mask[1:].bool(), mask.new_zeros(1).bool()])
    return mask.bool() & replaceable[ids] & ~followed_by_piece


class EmbeddingNeighbours:
    """Replace each whole word with probability ``probability`` by one of its ``k`` embedding neighbours."""

    def __init__(self, embeddings: torch.Tensor, replaceable: torch.Tensor, continuation: torch.Tensor,
                 k: int = 15, probability: float = 0.4):
        if k < 1 or not 0 < probability <= 1:
            raise ConfigError(f"need k >= 1 and 0 < probability <= 1; got k={k}, probability={probability}")
        if len(replaceable) > len(embeddings):
            raise ConfigError(f"the tokenizer has {len(replaceable)} tokens but the embedding matrix only "
                              f"{len(embeddings)} rows; use the teacher's own tokenizer")
        self.embeddings = torch.nn.functional.normalize(embeddings.detach().float(), dim=-1)  # (V, D)
        self.replaceable = torch.zeros(len(embeddings), dtype=torch.bool)
        self.replaceable[: len(replaceable)] = replaceable
        self.continuation = torch.zeros(len(embeddings), dtype=torch.bool)
        self.continuation[: len(continuation)] = continuation
        self.k, self.probability = k, probability
        self.pool = self.replaceable.nonzero().flatten()  # (P,) candidate replacements
        self.table: dict[int, torch.Tensor] = {}  # token id -> (k,) neighbour ids

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "neighbours", "k": self.k, "probability": self.probability,
                "embeddings": float(self.embeddings[:64].sum()), "vocab": len(self.embeddings)}

    def prepare(self, token_ids: Sequence[int]) -> None:
        """Compute the neighbours of every given token id not seen before (cosine over replaceable tokens)."""
        todo = sorted({int(i) for i in token_ids if int(i) not in self.table and self.replaceable[int(i)]})
        if not todo:
            return
        pool = self.pool
        pool_vectors = self.embeddings[pool]  # (P, D)
        for start in range(0, len(todo), CHUNK):
            rows = torch.tensor(todo[start:start + CHUNK])
            similarity = self.embeddings[rows] @ pool_vectors.T  # (R, P)
            similarity[pool[None, :] == rows[:, None]] = -2.0  # never the word itself
            best = similarity.topk(min(self.k, len(pool) - 1), dim=-1).indices  # (R, k)
            for row, picks in zip(rows.tolist(), pool[best]):
                self.table[row] = picks

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(T,) ids, (T,) mask -> a (T,) copy with some whole words replaced (draws only from ``generator``)."""
        positions = word_positions(ids, mask, self.replaceable, self.continuation).nonzero().flatten()
        draws = torch.rand(len(positions), generator=generator)
        picks = torch.randint(0, self.k, (len(positions),), generator=generator)
        out = ids.clone()
        self.prepare(ids[positions].tolist())
        for position, draw, pick in zip(positions.tolist(), draws.tolist(), picks.tolist()):
            neighbours = self.table.get(int(ids[position]))
            if draw < self.probability and neighbours is not None and len(neighbours):
                out[position] = neighbours[pick % len(neighbours)]
        return out
