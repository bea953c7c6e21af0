"""Word replacement by a masked-language-model head: mask some whole words, refill each with one of the K most likely
tokens the model predicts there (TinyBERT's augmentation for single-piece words).

The model is any ``...ForMaskedLM`` (a ``.logits`` output of shape (B, T, V)); it runs in eval mode, without
gradients, once per sentence copy with all chosen words masked together (TinyBERT masked one word per pass: K times
the cost for a slightly different conditional).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kdistill.errors import ConfigError
from kdistill.outputs import logits_of
from kdistill.text.augment.neighbours import word_positions


class MaskedFill:
    """Mask each whole word with probability ``probability``; refill it with one of the model's top-``k`` tokens."""

    def __init__(self, model: nn.Module, mask_token_id: int, replaceable: torch.Tensor, continuation: torch.Tensor,
                 k: int = 15, probability: float = 0.4):
        if k < 1 or not 0 < probability <= 1:
            raise ConfigError(f"need k >= 1 and 0 < probability <= 1; got k={k}, probability={probability}")
        self.model = model.eval()
        self.mask_token_id = mask_token_id
        self.replaceable, self.continuation = replaceable, continuation
        self.k, self.probability = k, probability

    def fingerprint(self) -> dict[str, Any]:
        first = next(self.model.parameters())
        return {"kind": "masked-fill", "k": self.k, "probability": self.probability,
                "model": type(self.model).__name__, "weights": float(first.detach().flatten()[:64].sum())}

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(T,) ids, (T,) mask -> a (T,) copy with some whole words refilled (draws only from ``generator``)."""
        positions = word_positions(ids, mask, self.replaceable, self.continuation).nonzero().flatten()
        draws = torch.rand(len(positions), generator=generator)
        picks = torch.randint(0, self.k, (len(positions),), generator=generator)
        chosen = positions[draws < self.probability]
        if len(chosen) == 0:
            return ids.clone()
        masked = ids.clone()
        masked[chosen] = self.mask_token_id
        with torch.no_grad():
            logits = logits_of(self.model(input_ids=masked[None], attention_mask=mask[None]))[0]  # (T, V)
        allowed = torch.full((logits.shape[-1],), float("-inf"))
        allowed[: len(self.replaceable)][self.replaceable] = 0.0  # refill with whole words only
        out = ids.clone()
        for position, pick in zip(chosen.tolist(), picks[draws < self.probability].tolist()):
            scores = logits[position].float() + allowed
            scores[int(ids[position])] = float("-inf")  # a different word
            out[position] = scores.topk(self.k).indices[pick]
        return out
