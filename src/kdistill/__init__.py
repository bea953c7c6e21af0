"""kdistill: knowledge distillation - teachers, students, losses, recipes and honest benchmarks.

The public names below are imported on first use (PEP 562), so ``import kdistill`` - and with it every CLI start,
including ``kdistill --help`` - does not pay for importing torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ClassSubsetTeacher": "kdistill.teachers",
    "EnsembleTeacher": "kdistill.teachers",
    "FrozenTeacher": "kdistill.teachers",
    "KdistillError": "kdistill.errors",
    "Teacher": "kdistill.teachers",
    "TrainConfig": "kdistill.training",
    "TrainResult": "kdistill.training",
    "distill": "kdistill.api",
    "evaluate": "kdistill.api",
    "fit": "kdistill.api",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kdistill.api import distill, evaluate, fit
    from kdistill.errors import KdistillError
    from kdistill.teachers import ClassSubsetTeacher, EnsembleTeacher, FrozenTeacher, Teacher
    from kdistill.training import TrainConfig, TrainResult


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:  # `import kdistill; kdistill.models.MODELS` worked when this file imported everything eagerly
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
