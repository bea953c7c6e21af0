"""Where a language-model training step spends its time: torch.profiler over one step (forward, backward, AdamW) of
next-token training and of cached distillation (k=64, residual uniform, forward KL: the fused one-softmax objective),
same batch, same student initialisation, one thread -> results/lm_step_profile.{json,md}.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/lm_step_profile.py      # needs lm.py's training cache

Each variant gets one warm-up step, then ``--repeats`` profiled steps in turn (interleaved); per op, the self CPU time
summed over the profiled steps and divided by their number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lm
from common import RESULTS_DIR, load_results, record_cell, save_results
from lm_steps import variant_steps

from kdistill.atomic import atomic_write_text

RESULTS = RESULTS_DIR / "lm_step_profile.json"
TOP = 12


def profiled_steps(variants: dict[str, Any], batch: dict[str, Any], vocab: int, steps: int,
                   repeats: int) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    students = {name: lm.student(vocab, 0) for name in variants}
    step = variant_steps(variants, batch, students, lm.train_config(steps, 0))
    ops: dict[str, dict[str, float]] = {name: {} for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name in variants:
            with profile(activities=[ProfilerActivity.CPU]) as recorder:
                started = time.perf_counter()
                step(name)
                wall[name].append(time.perf_counter() - started)
            for event in recorder.key_averages():
                ops[name][event.key] = ops[name].get(event.key, 0.0) + event.self_cpu_time_total / 1e6 / repeats
    return {name: {"wall_seconds": wall[name], "self_seconds_by_op": dict(sorted(ops[name].items(),
                                                                                  key=lambda item: -item[1]))}
            for name in variants}


def markdown(cell: dict[str, Any]) -> str:
    lines = ["# Where a step's time goes: next-token vs cached distillation (torch.profiler, self CPU time)", "",
             f"Student 4 layers x 256, V = 49,152, batch 8 x 128, one thread; {cell['repeats']} profiled steps per "
             f"variant, interleaved; load average {cell['load_average'][0]:.1f}. Seconds per step.", ""]
    variants = cell["variants"]
    names = list(variants)
    top = sorted({op for name in names for op in list(variants[name]["self_seconds_by_op"])[:TOP]},
                 key=lambda op: -max(variants[name]["self_seconds_by_op"].get(op, 0.0) for name in names))
    lines += ["| op | " + " | ".join(names) + " |", "|:---|" + "---:|" * len(names)]
    for op in top:
        lines.append(f"| {op} | " + " | ".join(f"{variants[name]['self_seconds_by_op'].get(op, 0.0):.3f}"
                                              for name in names) + " |")
    lines.append("| **profiled total (self)** | " + " | ".join(
        f"**{sum(variants[name]['self_seconds_by_op'].values()):.3f}**" for name in names) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="lm.py's --steps (which training cache)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from kdistill.strategies import build_strategy

    key = f"profile@{args.steps}"
    if key in load_results(RESULTS)["cells"]:  # resumable: a finished cell is kept
        print(f"{key} is in {RESULTS}; delete it there to profile again")
        return

    data = lm.splits(args.steps)
    batch = next(iter(lm.loader(data["train"], 0)))
    cached = lm.open_cache(data, args.steps)
    variants = {"next-token": build_strategy("supervised"), "cached forward KL": lm.distill_strategy(cached,
                                                                                                   "forward_kl")}
    started = time.perf_counter()
    cell = {"variants": profiled_steps(variants, batch, data["vocab"], args.steps, args.repeats),
            "repeats": args.repeats, "load_average": os.getloadavg(), "wall_seconds": time.perf_counter() - started}
    results = load_results(RESULTS)
    record_cell(results, key, cell, None)
    save_results(RESULTS, results)
    atomic_write_text(RESULTS_DIR / "lm_step_profile.md", markdown(cell))


if __name__ == "__main__":
    main()
