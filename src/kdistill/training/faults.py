"""One-line errors for the ways a training run commonly fails on the user's data rather than on a bug.

Each check runs either once before training (cheap) or only after a step has already failed, so the happy path pays
nothing. The diagnosis after a failure re-runs the student alone on the batch: what the data shows (inputs the model
cannot take, labels outside its classes, NaN in the batch) becomes a KdistillError naming the fix; anything else is
re-raised unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from kdistill.batch import forward_model
from kdistill.errors import ConfigError, DataError, KdistillError, NonFiniteLossError, ShapeError
from kdistill.evaluation.checks import check_label_range, non_finite_summary

# what a failed shape, dtype or index check inside torch raises; other exceptions are never reinterpreted
STEP_FAILURES = (RuntimeError, ValueError, TypeError, IndexError)
# words of torch's messages about inputs a layer cannot take ("mat1 and mat2 shapes cannot be multiplied", "expected
# input[8, 1, 28, 28] to have 3 channels", "must have the same dtype", "Input type (double) and bias type (float)",
# "index out of range in self" from an embedding, "got an unexpected keyword argument" for dict inputs)
INPUT_MISMATCH = re.compile(r"shape|size|dimension|dtype|type \(|channel|expected|must match|multipl|"
                            r"out of range in self|same device", re.IGNORECASE)


def count_batches(batches: Iterable, what: str) -> int:
    """Batches per epoch of a re-iterable loader; one-shot iterators, len()-less and empty loaders are refused."""
    kind = type(batches).__name__
    if isinstance(batches, Iterator):  # a generator or iter(loader): empty after the first epoch
        raise ConfigError(f"{what} is a one-shot iterator ({kind}) but training reads it once per epoch; pass a "
                          "DataLoader or a list of batches")
    try:
        count = len(batches)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{what} ({kind}) has no len(), which the learning-rate schedule needs (batches per "
                          "epoch); pass a DataLoader over a map-style Dataset or a list of batches, or give it a "
                          "__len__") from None
    if count == 0:
        raise DataError(f"{what} has no batches: its dataset is empty, or smaller than the batch size with "
                        "drop_last=True; give it at least one full batch")
    return count


def check_validation_batches(batches: Iterable, what: str = "val_data") -> None:
    """Validation runs every epoch: refuse a one-shot iterator and an empty loader before training starts."""
    if isinstance(batches, Iterator):
        raise ConfigError(f"{what} is a one-shot iterator ({type(batches).__name__}) but validation reads it every "
                          "epoch; pass a DataLoader or a list of batches")
    if hasattr(batches, "__len__") and len(batches) == 0:  # type: ignore[arg-type]
        raise DataError(f"{what} has no batches; give it at least one batch, or pass val_data=None to train "
                        "without validation")


def explain_step_failure(error: Exception, batch: Mapping[str, Any], student: nn.Module) -> KdistillError | None:
    """After ``strategy(batch, student)`` raised ``error``: a one-line error if the batch explains it, else None."""
    try:
        with torch.no_grad():  # the run is failing anyway: RNG or BatchNorm side effects no longer matter
            output = first_tensor(forward_model(student, batch))
    except STEP_FAILURES as forward_error:
        if not INPUT_MISMATCH.search(str(forward_error)):  # the model fails for another reason: not ours to explain
            return None
        return ShapeError(f"the model {type(student).__name__} cannot take the batch's inputs "
                          f"{describe(batch.get('inputs'))}: {first_line(forward_error)}; make the model's input "
                          "layer match the data (or reshape the data to what the model expects)")
    labels = batch.get("labels")
    if output is None or not isinstance(labels, torch.Tensor):
        return None
    return label_problem(labels, output, error)


def label_problem(labels: torch.Tensor, output: torch.Tensor, error: Exception) -> KdistillError | None:
    """What is wrong with the hard labels for a model that returned ``output`` (B, C) or (B, T, V), if anything."""
    if labels.is_floating_point():
        if labels.shape == output.shape:  # class probabilities: a legitimate target
            return None
        return ShapeError(f"labels are {dtype_name(labels)} {tuple(labels.shape)} but must be integer class ids "
                          f"(the step failed with: {first_line(error)}); convert them with labels.long()")
    if labels.numel() != output.shape[:-1].numel():
        return ShapeError(f"the batch has labels of shape {tuple(labels.shape)} for model outputs of shape "
                          f"{tuple(output.shape)}; give one class id per sample (or per output position)")
    try:
        check_label_range(labels, output.shape[-1], "training data")
    except ShapeError as range_error:
        return range_error
    if labels.dtype not in (torch.int64, torch.uint8):
        return ShapeError(f"labels are {dtype_name(labels)} but cross-entropy needs int64 class ids (the step failed "
                          f"with: {first_line(error)}); convert them with labels.long()")
    return None


def non_finite_loss_error(
    desc: str, loss: torch.Tensor, step: Mapping[str, Any], batch: Mapping[str, Any], student: nn.Module,
    where: str, history: str, first_step: bool,
) -> NonFiniteLossError:
    """The message for a NaN/inf loss: the data's fault when the batch holds NaN/inf, else the optimisation's.

    ``first_step``: the first step of a fresh run, where weights that are already NaN/inf came from outside.
    """
    prefix = f"{desc}: loss became {loss.item()} at {where}"
    bad_inputs = non_finite_summary(batch)
    if bad_inputs is not None:
        return NonFiniteLossError(f"{prefix}: the input batch contains NaN/inf ({bad_inputs}); check the data (drop "
                                  "or impute those values, e.g. torch.nan_to_num) - the learning rate is not the cause")
    if first_step and any(not bool(torch.isfinite(p).all()) for p in student.parameters()):
        return NonFiniteLossError(f"{prefix}: the model's weights hold NaN/inf before any training step; check the "
                                  "weights it was built with or loaded from")
    terms = [name for name, value in step.items() if name != "loss" and isinstance(value, torch.Tensor)
             and value.dim() == 0 and not bool(torch.isfinite(value))]
    which = f" (non-finite terms: {', '.join(terms)})" if terms else ""
    return NonFiniteLossError(f"{prefix}{which}; last finite epoch means {history}; lower the learning rate or set "
                              "grad_clip")


def first_tensor(output: Any) -> torch.Tensor | None:
    """The logits in a model's output: a tensor, the first item of a tuple, or ``.logits``; None if none is found."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    output = getattr(output, "logits", output)
    return output if isinstance(output, torch.Tensor) and output.dim() >= 1 else None


def describe(inputs: Any) -> str:
    if isinstance(inputs, torch.Tensor):
        return f"{tuple(inputs.shape)} {dtype_name(inputs)}"
    if isinstance(inputs, Mapping):
        return "{" + ", ".join(f"{key}: {describe(value)}" for key, value in inputs.items()) + "}"
    return type(inputs).__name__


def dtype_name(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
