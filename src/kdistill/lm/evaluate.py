"""Held-out language-model metrics, batch by batch (a (tokens, vocabulary) logit matrix of a test set would not fit):
perplexity, next-token accuracy, and against the teacher the token-level KL(teacher ‖ model) and top-1 agreement.

    rows = language_model_metrics({"teacher": t, "baseline": b, "distilled": d}, test_batches)
    rows["distilled"]   # {"perplexity", "nll", "accuracy", "tokens", "kl_to_teacher", "agreement"}
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kdistill.batch import as_batch, forward_model, move_batch
from kdistill.evaluation._modes import eval_mode
from kdistill.lm.blocks import IGNORE_INDEX


def language_model_metrics(models: dict[str, nn.Module], batches: Iterable[Any], device: str = "cpu",
                           reference: str = "teacher") -> dict[str, dict[str, float]]:
    """Per model: mean next-token NLL (nats) and its perplexity exp(NLL), accuracy, scored tokens; when ``reference``
    is among the models, every other model's mean KL(reference ‖ model) per token and top-1 agreement with it."""
    sums = {name: {"nll": 0.0, "correct": 0.0, "kl": 0.0, "agree": 0.0} for name in models}
    tokens = 0
    with torch.inference_mode():
        for raw in batches:
            batch = move_batch(as_batch(raw), device)
            keep = batch["labels"].reshape(-1) != IGNORE_INDEX  # (B*T,)
            labels = batch["labels"].reshape(-1)[keep]  # (M,)
            tokens += int(keep.sum())
            log_probs = {}
            for name, model in models.items():
                with eval_mode(model):
                    logits = forward_model(model, batch).float()  # (B, T, V)
                log_probs[name] = F.log_softmax(logits.reshape(-1, logits.shape[-1])[keep], -1)  # (M, V)
                sums[name]["nll"] -= float(log_probs[name].gather(1, labels[:, None]).sum())
                sums[name]["correct"] += float((log_probs[name].argmax(-1) == labels).sum())
            if reference in log_probs:
                target = log_probs[reference]
                for name, values in log_probs.items():
                    if name != reference:
                        sums[name]["kl"] += float((target.exp() * (target - values)).sum())
                        sums[name]["agree"] += float((values.argmax(-1) == target.argmax(-1)).sum())
                del target
    rows = {}
    for name, total in sums.items():
        nll = total["nll"] / max(tokens, 1)
        row = {"nll": nll, "perplexity": math.exp(nll), "accuracy": total["correct"] / max(tokens, 1),
               "tokens": tokens}
        if reference in models and name != reference:
            row["kl_to_teacher"] = total["kl"] / max(tokens, 1)
            row["agreement"] = total["agree"] / max(tokens, 1)
        rows[name] = row
    return rows


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far: Linux's VmHWM (/proc/self/status). Not getrusage's ru_maxrss:
    Linux carries that across fork and exec, so a fresh child process of a 2 GB parent reports >= 2 GB; it is the
    fallback where /proc is missing (kilobytes on Linux, bytes on macOS - the latter only there)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # "VmHWM:   123456 kB"
    except OSError:
        pass
    maxrss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def teacher_share(strategy: nn.Module, teacher: nn.Module, student: nn.Module, batch: dict[str, Any],
                  repeats: int = 3) -> dict[str, float]:
    """Seconds of a whole distillation step (forward + backward, no optimiser) and of the teacher's answer alone on
    the same batch, interleaved ``repeats`` times; medians and the teacher's share of the step."""
    def step() -> None:
        strategy(batch, student)["loss"].backward()
        student.zero_grad(set_to_none=True)

    def answer() -> None:
        teacher(batch)

    step()  # warm-up: first calls allocate
    steps, answers = [], []
    for _ in range(repeats):
        steps.append(timed(step))
        answers.append(timed(answer))
    step_seconds, teacher_seconds = median(steps), median(answers)
    return {"step_seconds": step_seconds, "teacher_seconds": teacher_seconds,
            "teacher_share": teacher_seconds / step_seconds if step_seconds else float("nan"), "repeats": repeats}
