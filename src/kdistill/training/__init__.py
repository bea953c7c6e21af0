"""The training loop, its configuration and checkpoints.

Names are imported on first use (PEP 562): ``kdistill.config`` reads :class:`TrainConfig` from
``kdistill.training.config`` and must not pull in torch through this package (``kdistill recipes`` stays fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdistill.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "kdistill.training.config",
    "TrainResult": "kdistill.training.loop",
    "load_weights": "kdistill.training.checkpoint",
    "save_weights": "kdistill.training.checkpoint",
    "train": "kdistill.training.loop",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kdistill.training.checkpoint import load_weights, save_weights  # noqa: F401
    from kdistill.training.config import TrainConfig  # noqa: F401
    from kdistill.training.loop import TrainResult, train  # noqa: F401

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
