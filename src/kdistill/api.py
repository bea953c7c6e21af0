"""The Python API: distill your own teacher into your own student on your own data, in a few lines.

    import kdistill
    result = kdistill.distill(teacher, student, train_loader, val_loader, temperature=4.0, epochs=10, lr=0.05)
    print(kdistill.evaluate(student, test_loader, teacher=teacher))

Loaders may yield ``(inputs, labels)`` pairs (a plain ``DataLoader`` over a ``TensorDataset``), Hugging Face-style
dicts (``input_ids``, ``attention_mask``, ``labels``) or batch dicts (see ``kdistill.batch``); models may return logits,
a tuple (logits first) or an object with ``.logits`` (see ``kdistill.outputs``). A method that keeps per-sample state
(CRD) needs sample ids: ``DataLoader(kdistill.with_index(dataset), ...)``.

Keyword arguments that are :class:`TrainConfig` fields (epochs, lr, optimizer, schedule, ...) configure training; all
others go to the distillation method (temperature, ce_weight, kd_weight, ...).

Both log one line per epoch to stderr when logging is not configured (``verbose=False`` or a logging config for the
"kdistill" logger silences them), and turn data that does not fit the model into one-line KdistillErrors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch import nn

from kdistill.batch import as_batch, move_batch, require_index
from kdistill.errors import ShapeError
from kdistill.evaluation import classification_metrics, predict_logits
from kdistill.logs import progress_logging
from kdistill.strategies import build_strategy, method_spec
from kdistill.teachers import FrozenTeacher, Teacher
from kdistill.training import TrainConfig, TrainResult, train
from kdistill.training.faults import STEP_FAILURES, count_batches, describe, first_line

TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}


def split_options(options: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any]]:
    """Separate training settings (TrainConfig fields) from the method's own arguments."""
    train_options = {key: value for key, value in options.items() if key in TRAIN_FIELDS}
    method_args = {key: value for key, value in options.items() if key not in TRAIN_FIELDS}
    return TrainConfig(**train_options), method_args


def distill(
    teacher: nn.Module,
    student: nn.Module,
    train_data: Iterable,
    val_data: Iterable | None = None,
    method: str = "hinton",
    run_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    verbose: bool = True,
    **options: Any,
) -> TrainResult:
    """Train ``student`` to imitate ``teacher`` with a registered method (default: Hinton KD).

    ``teacher`` is any ``nn.Module`` (wrapped in a :class:`FrozenTeacher`: eval mode, no grad) or a ready
    :class:`Teacher` (ensemble, class subset, cached). With ``run_dir`` you get metrics.jsonl, checkpoints and
    ``resume=True``. The student ends with the selected (best validation) weights. ``verbose=False`` silences the
    per-epoch log lines and the progress bar.
    """
    config, method_args = split_options(options)
    count_batches(train_data, "train_data")  # before next(iter(...)): an empty loader would raise StopIteration
    frozen = teacher if isinstance(teacher, Teacher) else FrozenTeacher(teacher.to(device))
    example_batch = as_batch(next(iter(train_data)))
    context = {"student": student, "example_batch": example_batch}
    if method_spec(method).needs_index:  # fail before training, naming the adapter, not at the first step
        require_index(example_batch, f"method {method!r}")
    dataset = getattr(train_data, "dataset", None)
    if dataset is not None and hasattr(dataset, "__len__"):
        context["num_samples"] = len(dataset)
    elif hasattr(getattr(train_data, "labels", None), "__len__"):  # kdistill's ArrayLoader: sample ids index these
        context["num_samples"] = len(train_data.labels)
    try:
        strategy = build_strategy(method, teacher=frozen, context=context, **method_args)
        with progress_logging(verbose):
            return train(student, strategy, train_data, val_data, config, run_dir, resume, desc=method,
                         device=device, progress=verbose)
    except STEP_FAILURES as error:  # the loop explains what the student cannot take; this, what the teacher cannot
        explain_teacher_failure(frozen, example_batch, device, error)
        raise


def explain_teacher_failure(teacher: Teacher, batch: dict[str, Any], device: str, error: Exception) -> None:
    """After training failed with ``error``: a ShapeError if the teacher cannot take the first batch's inputs.

    Only on failure: an extra teacher call up front would show the teacher a view the student never trains on.
    """
    try:
        teacher(move_batch(batch, device))
    except STEP_FAILURES as teacher_error:
        raise ShapeError(f"the teacher {type(teacher).__name__} cannot take the batch's inputs "
                         f"{describe(batch.get('inputs'))}: {first_line(teacher_error)}; give the teacher the data "
                         "it was trained on (same input shape)") from error


def fit(
    model: nn.Module,
    train_data: Iterable,
    val_data: Iterable | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    verbose: bool = True,
    **options: Any,
) -> TrainResult:
    """Train ``model`` on hard labels (a teacher, or the student-from-scratch baseline) with the same loop.

    ``verbose=False`` silences the per-epoch log lines and the progress bar.
    """
    config, extra = split_options(options)
    strategy = build_strategy("supervised", **extra)
    with progress_logging(verbose):
        return train(model, strategy, train_data, val_data, config, run_dir, resume, desc="fit", device=device,
                     progress=verbose)


def evaluate(model: nn.Module, data: Iterable, teacher: nn.Module | None = None, device: str = "cpu") -> dict:
    """Accuracy, error count, NLL, ECE and (given a teacher) top-1 agreement on ``data``."""
    logits, labels = predict_logits(model, data, device=device)
    teacher_logits = predict_logits(teacher, data, device=device)[0] if teacher is not None else None
    return classification_metrics(logits, labels, teacher_logits)
