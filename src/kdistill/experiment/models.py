"""Building the experiment's networks reproducibly, and checking teacher and student agree on the classes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdistill.batch import forward_model
from kdistill.errors import CheckpointError, ShapeError
from kdistill.models import build_model
from kdistill.training import load_weights
from kdistill.training.seeding import seed_everything


def build_seeded(model: str, model_args: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
                 seed: int) -> nn.Module:
    """Same seed -> same initial weights: the baseline and the distilled student start from one initialisation.
    The one seeded builder of every pipeline (``run``, procedures, benchmarks)."""
    seed_everything(seed)
    return build_model(model, input_shape, num_classes, **dict(model_args))


def load_teacher_weights(model: nn.Module, path: str | Path) -> None:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"teacher weights {path} do not exist; set teacher.weights to a .safetensors file "
                              "written by a previous run (e.g. RUN_DIR/teacher/student.safetensors)")
    try:
        model.load_state_dict(load_weights(path))
    except RuntimeError as error:
        raise CheckpointError(f"teacher weights {path} do not fit teacher.model={type(model).__name__} "
                              f"({str(error).splitlines()[1] if len(str(error).splitlines()) > 1 else error}); "
                              "check teacher.model and teacher.model_args") from error


def check_class_counts(teacher: nn.Module, student: nn.Module, example: tuple[int, ...] | Mapping[str, Any]) -> int:
    """Run one probe through both; raise a ShapeError naming both class counts if they differ.

    ``example``: a batch (``{"inputs": ...}``, e.g. real samples: text inputs need real token ids and masks), or an
    input shape, probed with zeros."""
    batch = example if isinstance(example, Mapping) else {"inputs": torch.zeros(1, *example)}
    was_training = teacher.training, student.training
    teacher.eval(), student.eval()
    with torch.no_grad():
        teacher_classes = forward_model(teacher, batch).shape[-1]
        student_classes = forward_model(student, batch).shape[-1]
    teacher.train(was_training[0]), student.train(was_training[1])
    if teacher_classes != student_classes:
        raise ShapeError(f"teacher predicts {teacher_classes} classes but the student predicts {student_classes}; "
                         "they must match (for a class subset use a class-specialised strategy)")
    return int(student_classes)
