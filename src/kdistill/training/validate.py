"""Validation during training: loss and accuracy of the student alone, on data carved from the training set.

Under DDP each rank scores every ``world_size``-th validation batch and the sums are all-reduced, so validation costs
1/world_size of a full pass per rank and every rank reports the same global numbers.

Validation data holding NaN/inf, NaN/inf outputs and labels outside the model's classes are one-line errors (see
``predict_logits``): a NaN validation loss would otherwise pass silently into model selection.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from kdistill import distributed
from kdistill.errors import DataError
from kdistill.evaluation.predict import predict_logits


def validate(model: nn.Module, batches: Iterable, device: str | torch.device = "cpu") -> dict[str, float]:
    ctx = distributed.context()
    if ctx.world_size > 1:
        batches = [batch for index, batch in enumerate(batches) if index % ctx.world_size == ctx.rank]
    nll_sum = correct = count = 0.0
    # batch by batch: a language model's (tokens, vocabulary) logits of a whole validation set would not fit in memory
    for number, batch in enumerate(batches, 1):  # a rank may get no batch of a small validation set
        logits, labels = predict_logits(model, [batch], device=device, desc="validation", first_batch=number)
        nll_sum += float(F.cross_entropy(logits.float(), labels.long(), reduction="sum"))
        correct, count = correct + float((logits.argmax(-1) == labels).sum()), count + float(len(labels))
    nll_sum, correct, count = distributed.all_reduce_sum([nll_sum, correct, count], device)
    if count == 0:
        raise DataError("validation: the validation set is empty (no batches); give it at least one batch, or pass "
                        "val_data=None to train without validation")
    return {"loss": nll_sum / count, "accuracy": correct / count}
