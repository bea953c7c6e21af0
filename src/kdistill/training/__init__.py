"""The training loop, its configuration and checkpoints.

Names are imported on first use (PEP 562): ``kdistill.config`` reads :class:`TrainConfig` from
``kdistill.training.config`` and must not pull in torch through this package (``kdistill recipes`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "TrainConfig": "kdistill.training.config",
    "TrainResult": "kdistill.training.loop",
    "load_weights": "kdistill.training.checkpoint",
    "save_weights": "kdistill.training.checkpoint",
    "train": "kdistill.training.loop",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kdistill.training.checkpoint import load_weights, save_weights
    from kdistill.training.config import TrainConfig
    from kdistill.training.loop import TrainResult, train


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
