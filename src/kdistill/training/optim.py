"""Optimizer and per-step learning-rate schedule from a :class:`TrainConfig`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from kdistill.training.config import TrainConfig


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    parameters = [p for p in parameters if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """Multiplier on the base lr at optimizer step ``step`` (0-based): linear warm-up, then the schedule."""
    epoch = step / steps_per_epoch
    if config.warmup_epochs > 0 and epoch < config.warmup_epochs:
        return (step + 1) / (config.warmup_epochs * steps_per_epoch)
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        return config.step_gamma ** int(epoch // config.step_epochs)
    # cosine from the end of warm-up to the last step
    total = config.epochs * steps_per_epoch
    start = config.warmup_epochs * steps_per_epoch
    progress = min(1.0, (step - start) / max(1.0, total - start))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR (its state is just the step count, so it checkpoints trivially)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps_per_epoch, config))
