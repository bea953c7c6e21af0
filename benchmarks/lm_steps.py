"""Training steps of several variants side by side, each variant with its own student and optimizer: the one step
loop behind lm.py's interleaved timing and lm_step_profile.py's profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def variant_steps(variants: dict[str, Any], batch: dict[str, Any], students: dict[str, torch.nn.Module],
                  config: Any) -> Callable[[str], None]:
    """``step(name)``: one forward, backward and optimizer step of variant ``name`` on ``batch``, after one untimed
    warm-up step of every variant (first-call allocations stay out of what callers time)."""
    from kdistill.training.optim import build_optimizer

    optimizers = {name: build_optimizer(list(model.parameters()), config) for name, model in students.items()}

    def step(name: str) -> None:
        loss = variants[name](batch, students[name])["loss"]
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()

    for name in variants:
        step(name)
    return step


def interleaved_steps(variants: dict[str, Any], batch: dict[str, Any], students: dict[str, torch.nn.Module],
                      config: Any, repeats: int) -> dict[str, list[float]]:
    """``repeats`` rounds of one timed step per variant in turn -> seconds per variant."""
    from kdistill.lm.evaluate import timed

    step = variant_steps(variants, batch, students, config)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name in variants:
            seconds[name].append(timed(lambda name=name: step(name)))
    return seconds
