"""kdistill: knowledge distillation - teachers, students, losses, recipes and honest benchmarks.

The public names below are imported on first use (PEP 562), so ``import kdistill`` - and with it every CLI start,
including ``kdistill --help`` - does not pay for importing torch until something needs it.
"""

from __future__ import annotations

from kdistill.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "distill": "kdistill.api",
    "evaluate": "kdistill.api",
    "export": "kdistill.deploy",
    "fit": "kdistill.api",
    "load_student": "kdistill.experiment.student",
    "predict_inputs": "kdistill.experiment.predict",
    "tune": "kdistill.tuning.driver",
    "TuneResult": "kdistill.tuning.driver",
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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=True)
