"""Collect a model's logits and the matching labels over a whole dataset."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from kdistill.batch import as_batch, forward_model, move_batch
from kdistill.errors import DataError, KdistillError, ShapeError
from kdistill.evaluation._modes import eval_mode
from kdistill.evaluation.checks import IGNORE_INDEX, check_label_range, non_finite_summary


def predict_logits(
    model: nn.Module,
    batches: Iterable[Any],
    device: torch.device | str = "cpu",
    desc: str = "predict",
    progress: bool = False,
    first_batch: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` over ``batches`` and return ``(logits (N, C) float32, labels (N,) int64)`` on the CPU.

    ``batches`` yields contract dicts (``{"inputs", "labels", ...}``) or ``(inputs, labels)`` pairs; each is moved to
    ``device``, where ``model`` must already live. The model runs in eval mode under ``torch.inference_mode`` and gets
    its previous train/eval flags back afterwards.

    Sequence outputs ``(B, T, V)`` with labels ``(B, T)`` are flattened to ``(B*T, V)`` and positions whose label is
    -100 are dropped, so N counts scored tokens.

    NaN/inf logits and labels outside ``0..C-1`` raise one-line errors (starting with ``desc``) instead of turning
    into NaN metrics or an IndexError later. ``progress=True`` shows a progress bar (on a terminal) labelled ``desc``.
    ``first_batch``: the number errors give the first batch (a caller feeding batches one at a time counts on).
    """
    all_logits: list[torch.Tensor] = []
    all_labels: list[torch.Tensor] = []
    with eval_mode(model), torch.inference_mode():
        bar = tqdm(batches, desc=desc, leave=False, disable=None if progress else True, mininterval=0.5)
        for index, raw in enumerate(bar):
            batch = move_batch(as_batch(raw), device)
            if "labels" not in batch:
                raise KdistillError(f"{desc}: predict_logits needs labelled batches; the batch has no 'labels' key")
            logits, labels = flatten_scored(forward_model(model, batch), batch["labels"])
            check_finite_logits(logits, batch, f"{desc}: batch {first_batch + index}")
            check_label_range(labels, logits.shape[-1], f"{desc}: batch {first_batch + index}")
            # float32 on the CPU: metrics are computed there, and bf16/fp16 logits would distort NLL and ECE.
            all_logits.append(logits.float().cpu())
            all_labels.append(labels.long().cpu())
    if not all_logits:
        raise DataError(f"{desc}: the data yielded no batches; check that the data loader is not empty")
    return torch.cat(all_logits), torch.cat(all_labels)


def check_finite_logits(logits: torch.Tensor, batch: Mapping[str, Any], where: str) -> None:
    """Blame the data when its inputs hold NaN/inf, else the model (its weights are no longer finite)."""
    if bool(torch.isfinite(logits).all()):
        return
    bad_inputs = non_finite_summary(batch)
    if bad_inputs is not None:
        raise DataError(f"{where}: the input batch contains NaN/inf ({bad_inputs}), so the model's outputs are not "
                        "finite; check the data (drop or impute those values, e.g. torch.nan_to_num)")
    raise KdistillError(f"{where}: the model's outputs are NaN/inf on finite inputs, so its weights are no "
                             "longer finite; if it was just trained, lower the learning rate or set grad_clip; if it "
                             "was loaded, check the weights file")


def flatten_scored(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, C), (B,)`` pass through; ``(B, T, V), (B, T)`` become ``(M, V), (M,)`` keeping labels != -100."""
    if logits.dim() == 2 and labels.dim() == 1 and logits.shape[0] == labels.shape[0]:
        return logits, labels
    if logits.dim() == 3 and labels.shape == logits.shape[:2]:
        logits, labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)  # (B*T, V), (B*T,)
        keep = labels != IGNORE_INDEX
        return logits[keep], labels[keep]
    raise ShapeError(
        f"expected logits (B, C) with labels (B,) or logits (B, T, V) with labels (B, T); "
        f"got logits {tuple(logits.shape)} and labels {tuple(labels.shape)}"
    )
