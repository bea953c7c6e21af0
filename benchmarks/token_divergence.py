"""Benchmark: what the chunked token divergences cost next to the next-token cross-entropy they are added to.

One step of SmolLM2-sized logits (batch 8 x length 128, vocabulary 49,152; random logits, seed 0), loss forward +
backward to the student's logits, one torch thread:

- time: every variant timed in turns in one process (so load on the shared machine hits all alike), median and
  interquartile range over the repeats;
- peak memory: each variant alone in a child process, its peak RSS minus that of a child that only builds the inputs.

Variants: the next-token cross-entropy (the plain step's loss), a naive unchunked forward KL (F.kl_div over the whole
(B·T, V) tensor), ``token_divergence`` with a dense teacher at several ``chunk_tokens``, and with a top-64 sparse
teacher under each residual mode. Resumable: the timing cell and each memory cell are written as they finish.

    python benchmarks/token_divergence.py                 # the full benchmark
    python benchmarks/token_divergence.py --smoke         # tiny sizes, seconds: checks the files
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, machine, save_results

from kdistill.atomic import atomic_write_text
from kdistill.losses.token_divergence import token_divergence, topk_log_probs

SEED = 0
VARIANTS = ("cross_entropy", "naive_forward_kl", "dense_forward_kl_chunk128", "dense_forward_kl_chunk256",
            "dense_forward_kl_chunk1024", "dense_reverse_kl_chunk256", "dense_jsd_chunk256",
            "top64_renormalise", "top64_ignore", "top64_uniform_chunk256")


def inputs(batch: int, length: int, vocab: int) -> dict:
    generator = torch.Generator().manual_seed(SEED)
    student = (torch.randn(batch, length, vocab, generator=generator) * 2).requires_grad_(True)
    teacher = torch.randn(batch, length, vocab, generator=generator) * 2
    labels = torch.randint(0, vocab, (batch, length), generator=generator)
    return {"student": student, "teacher": teacher, "labels": labels, "sparse": topk_log_probs(teacher, 64),
            "mask": torch.ones(batch, length, dtype=torch.bool)}


def loss_of(variant: str, data: dict) -> torch.Tensor:
    student, teacher, mask, sparse = data["student"], data["teacher"], data["mask"], data["sparse"]
    vocab = student.shape[-1]
    if variant == "cross_entropy":
        return F.cross_entropy(student.reshape(-1, vocab), data["labels"].reshape(-1))
    if variant == "naive_forward_kl":
        return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                        reduction="none").sum(-1).mean()
    if variant.startswith("dense_"):
        kind, chunk = variant[len("dense_"):].rsplit("_chunk", 1)
        return token_divergence(student, teacher, mask, kind=kind, chunk_tokens=int(chunk))
    residual, _, chunk = variant[len("top64_"):].partition("_chunk")
    return token_divergence(student, sparse, mask, residual=residual, chunk_tokens=int(chunk or 1024))


def step(variant: str, data: dict) -> float:
    data["student"].grad = None
    started = time.perf_counter()
    loss_of(variant, data).backward()
    return time.perf_counter() - started


def timing_cell(sizes: tuple[int, int, int], repeats: int) -> dict:
    data = inputs(*sizes)
    for variant in VARIANTS:  # warm-up
        step(variant, data)
    seconds = {variant: [] for variant in VARIANTS}
    for _ in range(repeats):
        for variant in VARIANTS:
            seconds[variant].append(step(variant, data))
    summary = {}
    for variant, values in seconds.items():
        quartiles = statistics.quantiles(values, n=4)
        summary[variant] = {"median_s": statistics.median(values), "q1_s": quartiles[0], "q3_s": quartiles[2],
                            "runs_s": values}
    return summary


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1024


def child_peak_extra(sizes: tuple[int, int, int], variant: str) -> dict:
    """A fresh process builds the inputs, resets its peak RSS, runs ``variant`` once: RSS before and peak after."""
    command = [sys.executable, __file__, "--child", variant, "--sizes", *map(str, sizes)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    before, peak = map(float, output.strip().splitlines()[-1].split())
    return {"rss_before_mb": before, "peak_mb": peak, "extra_mb": peak - before}


def render(results: dict) -> str:
    timing = results["cells"]["timing"]
    base = timing["cross_entropy"]["median_s"]
    lines = ["# Token divergences: cost next to the next-token cross-entropy", "",
             (f"Produced by `python benchmarks/token_divergence.py{' --smoke' if results['smoke'] else ''}`: logits "
              f"{results['sizes']} (batch, length, vocabulary), random (seed {SEED}), loss forward + backward, "
              f"{results['machine']['torch_threads']} torch thread on {results['machine']['cpu']} "
              f"({results['machine']['cores']} cores shared with other jobs; load average "
              f"{results['load_average']} at the start, {results.get('load_average_end')} at the end). Time: median (IQR) over {results['repeats']} turns of all variants in one "
              "process. Memory: peak RSS of a child running the variant once on inputs already built, minus its RSS "
              "before (the student's logits alone are "
              f"{results['logits_mb']:.0f} MB)."), "",
             "| variant | seconds | x cross-entropy | peak extra MB |", "|---|---:|---:|---:|"]
    for variant in VARIANTS:
        cell = timing[variant]
        memory = results["cells"].get(f"memory/{variant}")
        extra = f"{memory['extra_mb']:.0f}" if memory else "-"
        lines.append(f"| {variant} | {cell['median_s']:.3f} ({cell['q1_s']:.3f}-{cell['q3_s']:.3f}) | "
                     f"{cell['median_s'] / base:.2f} | {extra} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child")
    parser.add_argument("--sizes", nargs=3, type=int)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.child:
        data = inputs(*args.sizes)
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM): building the inputs does not count
        before = status_mb("VmRSS")
        if args.child != "none":
            loss_of(args.child, data).backward()
        print(before, status_mb("VmHWM"))
        return
    sizes = (2, 8, 300) if args.smoke else (8, 128, 49_152)
    name = "token_divergence_smoke" if args.smoke else "token_divergence"
    path = RESULTS_DIR / f"{name}.json"
    results = load_results(path)
    if results.get("sizes") != list(sizes):
        results = {"cells": {}}
    results.update({"sizes": list(sizes), "smoke": args.smoke, "seed": SEED, "machine": machine(),
                    "logits_mb": sizes[0] * sizes[1] * sizes[2] * 4 / 2**20})
    if "timing" not in results["cells"]:
        results.update({"repeats": args.repeats, "load_average": [round(x, 1) for x in os.getloadavg()]})
        results["cells"]["timing"] = timing_cell(sizes, args.repeats)
        save_results(path, results)
    for variant in VARIANTS:
        if f"memory/{variant}" not in results["cells"]:
            results["cells"][f"memory/{variant}"] = child_peak_extra(sizes, variant)
            results["load_average_end"] = [round(x, 1) for x in os.getloadavg()]
            save_results(path, results)
    atomic_write_text(RESULTS_DIR / f"{name}.md", render(results))
    print((RESULTS_DIR / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
