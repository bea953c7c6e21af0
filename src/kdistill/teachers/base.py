"""The teacher interface.

A teacher maps a batch (see ``kdistill.batch``) to logits ``(B, C)`` or ``(B, T, V)``. It owns its frozenness: it is
in eval mode forever (a parent's ``.train()`` cannot switch its dropout back on), its parameters never require grad,
and its outputs are computed without autograd. Frozen, ensemble, class-subset, precomputed and cached teachers all
share this interface, so the training loop cannot tell them apart.
"""

from __future__ import annotations

import torch
from torch import nn

from kdistill.batch import Batch
from kdistill.losses.soft_targets import tempered_log_probs
from kdistill.outputs import logits_of


class Teacher(nn.Module):
    """Base class: subclasses implement ``teacher_logits(batch)``; ``forward`` adds no-grad and detaching, and unpacks
    a tuple or ``.logits`` output with :func:`~kdistill.outputs.logits_of` (so a subclass may return a model's raw
    output)."""

    num_classes: int | None = None
    # False for a teacher that answers only for stored samples (a cache): methods that generate new inputs (on-policy
    # distillation) refuse it up front
    scores_new_sequences: bool = True
    # True for a teacher that answers with its top-k tokens per position only (a top-k sequence cache): the rest of its
    # distribution is unknown, so a method must say how to treat it (lm-distill's residual)
    answers_top_k: bool = False

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: Batch) -> torch.Tensor:
        # no_grad rather than inference_mode: the result is a *target* that the student's loss saves for backward,
        # and inference tensors cannot be saved for backward.
        with torch.no_grad():
            return logits_of(self.teacher_logits(batch)).detach()

    def log_probs(self, batch: Batch, temperature: float) -> torch.Tensor:
        """The soft targets log σ(z_t / T), (B, C) or (B, T, V) float32, no grad. A cached teacher serves them as its
        loader decoded them for the epoch; every other teacher computes them from its logits."""
        return tempered_log_probs(self(batch), temperature)

    def train(self, mode: bool = True) -> Teacher:
        # Ignore the request: a teacher with dropout active would give noisy, wrong soft targets.
        return super().train(False)


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode and stop gradients to its parameters."""
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module
