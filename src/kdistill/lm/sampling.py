"""Seeded continuations of token prefixes: the student's samples (on-policy distillation) or the teacher's
(sequence-level KD).

    generator = step_generator(seed=0, step=12, index=batch["index"])     # same (seed, step, samples) -> same draws
    tokens = continue_prefix(model, input_ids[:, :64], new_tokens=64, generator=generator, temperature=1.0)  # (B, 128)

Sampling draws from ``softmax(logits / temperature)`` with ``torch.multinomial`` and the given generator only, so a
run is reproducible from its seed whatever else consumed the global RNG; ``temperature=0`` decodes greedily.
Hugging Face causal LMs decode with their key-value cache (one token per forward); any other model is re-run on the
whole sequence per token.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from kdistill.outputs import logits_of

SEED_MIX = 0x9E3779B1  # odd constant: (seed, step, first sample) -> well-spread generator seeds


def step_generator(seed: int, step: int, index: torch.Tensor | None = None) -> torch.Generator:
    """A CPU generator seeded from the run's ``seed``, the step number and the batch's first sample id."""
    first = int(index.reshape(-1)[0]) if index is not None and index.numel() else 0
    mixed = (seed * SEED_MIX + step * 1_000_003 + first * 7919) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)


def takes_cache(model: nn.Module) -> bool:
    forward = getattr(model, "forward", None)
    return forward is not None and "past_key_values" in inspect.signature(forward).parameters


def draw(logits: torch.Tensor, generator: torch.Generator, temperature: float) -> torch.Tensor:
    """(B, V) last-position logits -> (B, 1) next tokens (greedy at temperature 0)."""
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    probs = torch.softmax(logits.float() / temperature, dim=-1).cpu()  # the generator is a CPU one
    return torch.multinomial(probs, 1, generator=generator).to(logits.device)


@torch.no_grad()
def continue_prefix(model: nn.Module, prefix: torch.Tensor, new_tokens: int, generator: torch.Generator,
                    temperature: float = 1.0) -> torch.Tensor:
    """(B, P) prefix -> (B, P + new_tokens): ``model`` samples ``new_tokens`` tokens after it (see module docstring).
    The model's train/eval mode is left as it was (Llama has no dropout; a model with dropout samples with it)."""
    model = getattr(model, "module", model)  # DistributedDataParallel: sample with the wrapped network, no sync
    tokens = prefix
    if new_tokens <= 0:
        return tokens
    if takes_cache(model):
        output = model(input_ids=tokens, use_cache=True)
        for position in range(new_tokens):
            next_tokens = draw(output.logits[:, -1], generator, temperature)  # (B, 1)
            tokens = torch.cat([tokens, next_tokens], dim=1)
            if position + 1 < new_tokens:
                output = model(input_ids=next_tokens, past_key_values=output.past_key_values, use_cache=True)
        return tokens
    for _ in range(new_tokens):
        logits = logits_of(model(tokens))  # (B, T, V)
        tokens = torch.cat([tokens, draw(logits[:, -1], generator, temperature)], dim=1)
    return tokens
