"""Validation during training: loss and accuracy of the student alone, on data carved from the training set."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from kdistill.evaluation.metrics import accuracy, negative_log_likelihood
from kdistill.evaluation.predict import predict_logits


def validate(model: nn.Module, batches: Iterable, device: str | torch.device = "cpu") -> dict[str, float]:
    logits, labels = predict_logits(model, batches, device=device)
    return {"loss": float(negative_log_likelihood(logits, labels)), "accuracy": float(accuracy(logits, labels))}
