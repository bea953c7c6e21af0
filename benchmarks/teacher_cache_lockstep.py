"""Step cost by lockstep interleaving: every variant takes one training step in turn, each step timed on its own.

The epoch-level rounds of ``teacher_cache.py`` compare epochs seconds apart; on a machine shared by many jobs the
contention changes within that time. Here the variants (plain, cached full, cached top-k, recompute) each train
their own student through the same step as the training loop - batch from the loader, strategy, finite check,
zero_grad, backward, optimizer and scheduler step, running means - and alternate step by step, so neighbouring
steps of different variants see the same machine. Per variant: the median thread-CPU microseconds per step over all
steps after a warm-up; per round of steps (one step of every variant) the ratio to that round's plain step.
``repeated_lockstep`` runs the whole interleaved cell several times, from fresh students, for a spread over runs.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import torch

from kdistill.batch import as_batch
from kdistill.training.optim import build_optimizer, build_scheduler
from kdistill.training.running import RunningMeans


def lockstep_cell(setups: dict[str, tuple[torch.nn.Module, torch.nn.Module, Any]], config, epochs: int,
                  warmup_steps: int = 20) -> dict[str, Any]:
    """``setups``: variant -> (student, strategy, loader). Trains every variant ``epochs`` epochs, step by step in turn."""
    states = {}
    for name, (student, strategy, loader) in setups.items():
        optimizer = build_optimizer(list(student.parameters()), config)
        states[name] = (student.train(), strategy.train(), loader, optimizer,
                        build_scheduler(optimizer, config, len(loader)))
    micros: dict[str, list[float]] = {name: [] for name in setups}
    warmup_steps = min(warmup_steps, min(len(state[2]) for state in states.values()) // 4)
    for epoch in range(1, epochs + 1):
        iterators = {}
        for name, (_, _, loader, _, _) in states.items():
            loader.set_epoch(epoch)
            iterators[name] = iter(loader)
        for step in range(min(len(state[2]) for state in states.values())):
            for name, (student, strategy, _, optimizer, scheduler) in states.items():
                started = time.thread_time()
                batch = as_batch(next(iterators[name]))
                out = strategy(batch, student)
                if not torch.isfinite(out["loss"]):
                    raise RuntimeError(f"{name}: non-finite loss")
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()
                scheduler.step()
                RunningMeans().update(out, batch.get("labels"), len(batch["labels"]))
                if epoch > 1 or step >= warmup_steps:
                    micros[name].append((time.thread_time() - started) * 1e6)
    ratios, per_rounds = {}, {}
    for name, values in micros.items():
        if name != "plain":
            per_round = per_rounds[name] = [a / b for a, b in zip(values, micros["plain"])]
            quartiles = statistics.quantiles(per_round, n=4)
            ratios[name] = {"ratio_of_medians": statistics.median(values) / statistics.median(micros["plain"]),
                            "median": statistics.median(per_round), "q1": quartiles[0], "q3": quartiles[2],
                            "rounds_below_1": sum(r < 1 for r in per_round), "rounds": len(per_round)}
    return {"median_step_us": {name: statistics.median(values) for name, values in micros.items()},
            "ratios": ratios, "per_round": per_rounds, "epochs": epochs, "warmup_steps": warmup_steps,
            "flags": [f"{name} ratio of medians {r['ratio_of_medians']:.3f} < 1.0: measurement error"
                      for name, r in ratios.items() if r["ratio_of_medians"] < 1.0]}


def quantile(values: list[float], fraction: float) -> float:
    """Linear-interpolated quantile of ``values`` (fraction in [0, 1])."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def repeated_lockstep(make_setups, config, epochs: int, repeats: int) -> dict[str, Any]:
    """``repeats`` independent lockstep runs (fresh students, optimizers and loaders each: ``make_setups()``), each
    recording the load average before and after. Per variant: the median over repeats of each run's ratio of median
    step times, its p10-p90 over repeats, and p10-p90 of the per-round ratios pooled over all runs. A median ratio
    below 1.0 is flagged as a measurement error (a distillation step cannot cost less than the plain step in it)."""
    runs = []
    for _ in range(repeats):
        load_before = os.getloadavg()
        run = lockstep_cell(make_setups(), config, epochs)
        runs.append({"ratio_of_medians": {name: r["ratio_of_medians"] for name, r in run["ratios"].items()},
                     "median_step_us": run["median_step_us"], "per_round": run["per_round"],
                     "load_average_before": load_before, "load_average_after": os.getloadavg()})
    summary = {}
    for name in runs[0]["ratio_of_medians"]:
        ratios = [run["ratio_of_medians"][name] for run in runs]
        pooled = [value for run in runs for value in run["per_round"][name]]
        summary[name] = {"median": statistics.median(ratios), "p10": quantile(ratios, 0.1),
                         "p90": quantile(ratios, 0.9), "per_round_p10": quantile(pooled, 0.1),
                         "per_round_median": statistics.median(pooled), "per_round_p90": quantile(pooled, 0.9),
                         "rounds": len(pooled)}
    plain_us = [run["median_step_us"]["plain"] for run in runs]
    loads = [load for run in runs for load in (run["load_average_before"][0], run["load_average_after"][0])]
    for run in runs:
        del run["per_round"]  # pooled above; the per-round series would make the file large
    return {"ratios": summary, "runs": runs, "repeats": repeats, "epochs": epochs,
            "plain_step_us": {"median": statistics.median(plain_us), "p10": quantile(plain_us, 0.1),
                              "p90": quantile(plain_us, 0.9)},
            "load_average_1min": {"min": min(loads), "max": max(loads)},
            "flags": [f"{name} median ratio {r['median']:.3f} < 1.0: measurement error"
                      for name, r in summary.items() if r["median"] < 1.0]}
