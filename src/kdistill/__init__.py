"""kdistill: knowledge distillation - teachers, students, losses, recipes and honest benchmarks."""

from kdistill.api import distill, evaluate, fit
from kdistill.errors import KdistillError
from kdistill.teachers import ClassSubsetTeacher, EnsembleTeacher, FrozenTeacher, Teacher
from kdistill.training import TrainConfig, TrainResult

__version__ = "0.1.0"

__all__ = [
    "ClassSubsetTeacher",
    "EnsembleTeacher",
    "FrozenTeacher",
    "KdistillError",
    "Teacher",
    "TrainConfig",
    "TrainResult",
    "distill",
    "evaluate",
    "fit",
]
