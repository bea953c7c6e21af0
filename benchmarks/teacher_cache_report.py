"""Markdown for benchmarks/teacher_cache.py: epoch-time ratios, accuracy per mode, cache sizes and memory."""

from __future__ import annotations

import json
from typing import Any

from common import format_mean_std


def pct(values: list[float]) -> str:
    return format_mean_std([100 * value for value in values], 2)


def render_markdown(results: dict[str, Any], jitter: int, temperature: float, modes: tuple[str, ...]) -> str:
    """The results file as markdown: epoch-time ratios, accuracy per mode, cache sizes, peak memory."""
    cells, settings = results["cells"], results["settings"]
    lines = ["# Teacher cache benchmark", "",
             f"Settings: {json.dumps(settings)}; environment: {json.dumps(results['environment'])}.",
             f"Student inputs jittered by ±{jitter} px; Hinton KD at T={temperature}; cache: {settings['views']} "
             f"views per sample, top-k = {settings['topk']}. Epoch times are training-only (no validation), median "
             "of the timed repeats, all modes interleaved in one process.", "",
             "## Epoch time", "",
             "| dataset | teacher | teacher / student MFLOPs | plain s | recompute s | cached full s | cached top-k s "
             "| cached full / plain | cached top-k / plain | recompute / plain | build / recompute epoch |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, timing in cells.items():
        if not key.startswith("timing/"):
            continue
        _, dataset, kind = key.split("/")
        seconds = timing["epoch_seconds"]
        build = cells.get(f"cache/{dataset}/{kind}/full", {}).get("build_seconds", float("nan"))
        lines.append(
            f"| {dataset} | {kind} | {timing['teacher_mflops']:.2f} / {timing['student_mflops']:.2f} "
            f"| {seconds['plain']:.2f} | {seconds['recompute']:.2f} | {seconds['cache-full']:.2f} "
            f"| {seconds['cache-topk']:.2f} | {timing['ratio_cached_full_vs_plain']:.2f} "
            f"| {timing['ratio_cached_topk_vs_plain']:.2f} | {timing['ratio_recompute_vs_plain']:.2f} "
            f"| {build / seconds['recompute']:.2f} |")
    lines += ["", "## Test accuracy (%), mean ± std over seeds", "",
              "| dataset | teacher | teacher acc | plain student | recompute | cached full | cached top-k | seeds |",
              "|---|---|---|---|---|---|---|---|"]
    groups = sorted({tuple(key.split("/")[1:3]) for key in cells if key.startswith("accuracy/")})
    for dataset, kind in groups:
        per_mode = {mode: [c["test_accuracy"] for k, c in cells.items() if k.startswith(f"accuracy/{dataset}/{kind}/"
                                                                                         f"{mode}/")]
                    for mode in modes}
        teacher_acc = cells.get(f"teacher/{dataset}/{kind}", {}).get("test_accuracy", float("nan"))
        lines.append(f"| {dataset} | {kind} | {100 * teacher_acc:.2f} | {pct(per_mode['plain'])} "
                     f"| {pct(per_mode['recompute'])} | {pct(per_mode['cache-full'])} "
                     f"| {pct(per_mode['cache-topk'])} | {len(per_mode['recompute'])} |")
    lines += ["", "## Cache size", "", "| cache | views | bytes per sample (all views) | total MB | build s |",
              "|---|---|---|---|---|"]
    for key, info in cells.items():
        if key.startswith("cache/"):
            lines.append(f"| {key[6:]} | {info['views']} | {info['bytes_per_sample']:.0f} | {info['bytes'] / 1e6:.2f} "
                         f"| {info['build_seconds']:.1f} |")
    memory = {key: value for key, value in cells.items() if key.startswith("memory/")}
    if memory:
        lines += ["", "## Peak memory of one training epoch (child process)", "",
                  "| run | dataset array MB | cache MB | peak RSS MB | peak anonymous RSS MB |", "|---|---|---|---|---|"]
        for key, info in memory.items():
            lines.append(f"| {key[7:]} | {info['dataset_array_mb']:.1f} | {info['cache_mb']:.1f} "
                         f"| {info['peak_rss_mb']:.1f} | {info['peak_anon_rss_mb']:.1f} |")
        lines += ["", "Peak RSS includes file-backed cache pages while mapped; the reader drops them every 64 MiB "
                  "read (madvise DONTNEED), so RSS stays bounded however large the cache is."]
    return "\n".join(lines) + "\n"
