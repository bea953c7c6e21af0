"""Run a model in eval mode temporarily, restoring every submodule's own train/eval flag afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` inside the block; afterwards each submodule gets back the flag it had.

    Restoring per submodule (not just ``model.train(was_training)``) matters: a student in train mode may hold a frozen
    part (e.g. a teacher or a BatchNorm kept in eval on purpose), and a blanket ``train()`` would flip it.
    """
    previous = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, was_training in previous:
            module.training = was_training
