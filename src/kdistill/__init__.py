"""kdistill: knowledge distillation - teachers, students, losses, recipes and honest benchmarks.

Names are imported on first use (PEP 562), so ``import kdistill`` - and every listing command of the CLI - does not
pay for torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "distill": "kdistill.api",
    "evaluate": "kdistill.api",
    "fit": "kdistill.api",
    "load_student": "kdistill.experiment.student",
    "KdistillError": "kdistill.errors",
    # bring your own data and models: sample ids for a plain DataLoader, logits out of any model output
    "with_index": "kdistill.data.indexed",
    "IndexedDataset": "kdistill.data.indexed",
    "logits_of": "kdistill.outputs",
    "ClassSubsetTeacher": "kdistill.teachers",
    "EnsembleTeacher": "kdistill.teachers",
    "FrozenTeacher": "kdistill.teachers",
    "Teacher": "kdistill.teachers",
    "TrainConfig": "kdistill.training",
    "TrainResult": "kdistill.training",
    # plugins: the decorators and argument types the built-ins use
    "register_method": "kdistill.strategies.spec",
    "register_model": "kdistill.models.registry",
    "register_dataset": "kdistill.data.registry",
    "load_plugins": "kdistill.plugins",
    "Weight": "kdistill.arguments",
    "Temperature": "kdistill.arguments",
    "Positive": "kdistill.arguments",
    "PositiveInt": "kdistill.arguments",
    "NonNegativeInt": "kdistill.arguments",
    "Fraction": "kdistill.arguments",
    "Range": "kdistill.arguments",
    "OneOf": "kdistill.arguments",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kdistill' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
