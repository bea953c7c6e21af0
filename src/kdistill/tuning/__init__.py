"""Hyper-parameter search for distillation (``kdistill tune``): Optuna over each method's declared search space plus
the student's learning rate, scored on validation accuracy, with median pruning, SQLite storage in the study folder
(resumable), parallel worker processes and one shared teacher. Needs the ``tune`` extra (Optuna).

Names are imported on first use, so ``kdistill.tuning.cli`` (the argument parser) stays free of torch and Optuna.
"""

from __future__ import annotations

from kdistill.lazy import lazy_exports

_EXPORTS = {"tune": "kdistill.tuning.driver", "TuneResult": "kdistill.tuning.driver",
            "default_space": "kdistill.tuning.space", "resolve_space": "kdistill.tuning.space"}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
