"""What the teacher costs: FLOPs per sample, its share of a training step, and epoch time with and without a cache.

Epoch times are estimated from a short probe (the same steps, timed back to back in one process) scaled to a full
epoch, so the "with" and "without" numbers are measured side by side even when the run itself used only one mode.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from kdistill.batch import as_batch
from kdistill.evaluation.profile import flops_per_sample
from kdistill.teachers import Teacher
from kdistill.training.config import TrainConfig
from kdistill.training.optim import build_optimizer


def time_steps(
    student: nn.Module, strategy: nn.Module, batches: Iterable, config: TrainConfig, steps: int
) -> tuple[float, float]:
    """(median seconds per training step incl. loading, median seconds of the teacher call) over ``steps`` steps.

    Trains a *copy* of the student, so the caller's model is untouched. The first step is a warm-up and not counted.
    """
    student = copy.deepcopy(student).train()
    parameters = list(student.parameters()) + [p for p in strategy.parameters() if p.requires_grad]
    optimizer = build_optimizer(parameters, config)
    teacher = next((m for m in strategy.modules() if isinstance(m, Teacher)), None)
    step_times, teacher_times = [], []
    iterator = iter(batches)
    for index in range(steps + 1):
        started = time.perf_counter()
        try:
            batch = as_batch(next(iterator))
        except StopIteration:
            iterator = iter(batches)
            batch = as_batch(next(iterator))
        with torch.autocast("cpu", torch.bfloat16, enabled=config.precision == "bf16"):
            loss = strategy(batch, student)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - started
        if teacher is not None:
            teacher_started = time.perf_counter()
            teacher(batch)
            teacher_elapsed = time.perf_counter() - teacher_started
        else:
            teacher_elapsed = 0.0
        if index > 0:
            step_times.append(elapsed)
            teacher_times.append(teacher_elapsed)
    return statistics.median(step_times), statistics.median(teacher_times)


def teacher_cost_report(
    teacher_net: nn.Module,
    student: nn.Module,
    example: torch.Tensor,
    steps_per_epoch: int,
    live: tuple[nn.Module, Iterable],
    config: TrainConfig,
    cached: tuple[nn.Module, Iterable] | None = None,
    cache_info: dict[str, Any] | None = None,
    measured_epoch_seconds: float | None = None,
    probe_steps: int = 20,
) -> dict[str, Any]:
    """The ``teacher_cost`` section of a run report.

    ``live``/``cached``: (strategy, batches) with the recomputing and the cached teacher. ``example``: (1, C, H, W).
    """
    live_step, live_teacher = time_steps(student, live[0], live[1], config, probe_steps)
    report: dict[str, Any] = {
        "teacher_flops_per_sample": flops_per_sample(teacher_net, example),
        "student_flops_per_sample": flops_per_sample(student, example),
        "teacher_share_of_step_uncached": live_teacher / live_step if live_step > 0 else None,
        "epoch_seconds_recompute": live_step * steps_per_epoch,
        "epoch_seconds_cached": None,
        "speedup": None,
        "measured_epoch_seconds": measured_epoch_seconds,
        "probe_steps": probe_steps,
    }
    if cached is not None:
        cached_step, _ = time_steps(student, cached[0], cached[1], config, probe_steps)
        report["epoch_seconds_cached"] = cached_step * steps_per_epoch
        report["speedup"] = live_step / cached_step if cached_step > 0 else None
    report.update(cache_info or {})
    return report


def describe(cost: dict[str, Any]) -> str:
    """One report note summarising ``teacher_cost``."""
    text = (f"teacher cost: {cost['teacher_flops_per_sample'] / 1e6:.2f} vs student "
            f"{cost['student_flops_per_sample'] / 1e6:.2f} MFLOPs/sample; teacher is "
            f"{100 * (cost['teacher_share_of_step_uncached'] or 0):.0f}% of an uncached step; epoch "
            f"~{cost['epoch_seconds_recompute']:.1f}s recomputing")
    if cost.get("epoch_seconds_cached") is not None:
        text += (f", ~{cost['epoch_seconds_cached']:.1f}s cached (speedup {cost['speedup']:.2f}x; cache "
                 f"{cost.get('cache_bytes', 0) / 1e6:.1f} MB, {cost.get('cache_bytes_per_sample', 0):.0f} B/sample, "
                 f"built in {cost.get('cache_build_seconds', 0):.1f}s)")
    return text
