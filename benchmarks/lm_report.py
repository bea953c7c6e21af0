"""results/lm.md from results/lm.json: perplexity table (mean ± std over seeds), step timing, cache sizes, RSS."""

from __future__ import annotations

import math
from typing import Any

from common import RESULTS_DIR, format_mean_std

from kdistill.atomic import atomic_write_text

ROWS = ("scratch", "forward_kl", "forward_kl-renormalise", "forward_kl-k128", "forward_kl-k256", "forward_kl-live",
        "reverse_kl", "jsd", "skew_kl")
# row -> its cache, as the paired comparison with the live teacher names it
CACHED_FORWARD_KL = {"forward_kl": "k=64", "forward_kl-renormalise": "k=64 renormalised", "forward_kl-k128": "k=128",
                     "forward_kl-k256": "k=256"}
LABELS = {"scratch": "student alone (next-token CE)", "forward_kl": "distilled: forward KL (k=64 cache)",
          "forward_kl-renormalise": "distilled: forward KL (k=64 cache, tail dropped, top 64 renormalised)",
          "forward_kl-k128": "distilled: forward KL (k=128 cache)",
          "forward_kl-k256": "distilled: forward KL (k=256 cache)",
          "forward_kl-live": "distilled: forward KL (live teacher, full logits)",
          "reverse_kl": "distilled: reverse KL", "jsd": "distilled: JSD(0.5)", "skew_kl": "distilled: skew KL (0.1)"}


def cell_summary(row: dict[str, Any]) -> str:
    """One log line's worth of a finished cell."""
    keys = ("perplexity", "kl_to_teacher", "train_tokens_per_second", "bytes_per_token", "peak_rss_bytes")
    return ", ".join(f"{key} {row[key]:.4g}" for key in keys if key in row)


def cells_of(results: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [row for key, row in sorted(results["cells"].items()) if key.split("@")[0].startswith(prefix)]


def quality_table(results: dict[str, Any]) -> list[str]:
    header = ("| model | seeds | test perplexity | NLL (nats/token) | KL(teacher ‖ model) | next-token acc % | "
              "train tokens/s |")
    lines = [header, "|:---|---:|---:|---:|---:|---:|---:|"]
    teacher = cells_of(results, "teacher")
    if teacher:
        row = teacher[0]
        lines.append(f"| teacher SmolLM2-135M-Instruct | - | {row['perplexity']:.2f} | {row['nll']:.4f} | 0 | "
                     f"{100 * row['accuracy']:.2f} | - |")
    for name in ROWS:
        rows = cells_of(results, f"{name}/")
        if not rows:
            continue
        lines.append(f"| {LABELS[name]} | {len(rows)} | {format_mean_std([r['perplexity'] for r in rows], 1)} | "
                     f"{format_mean_std([r['nll'] for r in rows], 4)} | "
                     f"{format_mean_std([r['kl_to_teacher'] for r in rows], 4)} | "
                     f"{format_mean_std([100 * r['accuracy'] for r in rows], 2)} | "
                     f"{format_mean_std([r['train_tokens_per_second'] for r in rows], 0)} |")
    return lines + cache_versus_full_lines(results)


def cache_versus_full_lines(results: dict[str, Any]) -> list[str]:
    """Paired by seed (same initialisation and batch order): NLL of each cached-teacher student minus the live one's."""
    cells, lines = results["cells"], []
    for row, cache in CACHED_FORWARD_KL.items():
        pairs = [(cells[key]["nll"], cells[key.replace(f"{row}/", "forward_kl-live/")]["nll"])
                 for key in sorted(cells) if key.startswith(f"{row}/")
                 and key.replace(f"{row}/", "forward_kl-live/") in cells]
        if not pairs:
            continue
        differences = [cached - live for cached, live in pairs]
        lines += ["", f"{cache} cache vs the live teacher's full logits, paired by seed ({len(pairs)} seeds): the cached "
                  f"student's test NLL is higher by {format_mean_std(differences, 4)} nats/token (perplexity x"
                  f"{math.exp(sum(differences) / len(differences)):.3f})."]
    if lines:
        lines += ["", "The forward_kl (k=64 cache) rows were trained before the fused objective existed "
                  "(token_divergence, same math); the others with it."]
    return lines


def cost_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    timing = [row for row in cells_of(results, "timing") if "ratio_to_next_token" in row]
    if timing:
        row = timing[0]
        lines += ["", "## Step time (interleaved, same batch of 8 x 128 tokens, forward + backward + AdamW)", "",
                  f"{len(next(iter(row['seconds'].values())))} interleaved repeats after a warm-up, one thread, "
                  f"load average {row['load_average'][0]:.1f} when the cell finished.", "",
                  "| variant | median s/step | min-max | x next-token | tokens/s |", "|:---|---:|---:|---:|---:|"]
        for name, values in row["seconds"].items():
            lines.append(f"| {name} | {row['median_seconds'][name]:.3f} | {min(values):.3f}-{max(values):.3f} | "
                         f"{row['ratio_to_next_token'][name]:.2f} | {row['tokens_per_second'][name]:.0f} |")
    if timing and "live_teacher_share" in timing[0]:
        share = timing[0]["live_teacher_share"]
        lines.append(f"\nLive teacher: its forward pass takes {share['teacher_seconds']:.3f} s of a "
                     f"{share['step_seconds']:.3f} s distillation step ({100 * share['teacher_share']:.0f}%).")
    for key, row in sorted(results.get("superseded", {}).items()):
        if "ratio_to_next_token" in row:
            lines += ["", f"Before the fused CE + top-k path (superseded `{key}`, load {row['load_average'][0]:.1f}): "
                      + ", ".join(f"{name} {row['median_seconds'][name]:.2f} s ({row['ratio_to_next_token'][name]:.2f}x)"
                                  for name in row["median_seconds"]) + "."]
            if "live_teacher_share" in row:
                share = row["live_teacher_share"]
                lines[-1] += (f" Live teacher: its forward pass took {share['teacher_seconds']:.3f} s of a "
                              f"{share['step_seconds']:.3f} s step ({100 * share['teacher_share']:.0f}%).")
        elif "peak_rss_bytes" in row:
            lines += ["", f"Before the fused path (superseded `{key}`): peak RSS {row['peak_rss_bytes'] / 1e9:.2f} GB."]
    lines += chunk_lines(results) + fidelity_lines(results)
    build = cells_of(results, "cache-build")
    sizes = cells_of(results, "bytes/")
    if build or sizes:
        lines += ["", "## Teacher cache", "", "| cache | bytes/token | sequences | build s |", "|:---|---:|---:|---:|"]
        for row in build:
            lines.append(f"| training cache k={row['k']} {row['format']} | {row['bytes_per_token']:.1f} | "
                         f"{row['sequences']} | {row['seconds']:.0f} |")
        for row in sizes:
            k = "full" if row["format"] == "full" else row["k"]
            lines.append(f"| k={k} ({row['format']}) | {row['bytes_per_token']:.1f} | {row['sequences']} | "
                         f"{row['seconds']:.0f} |")
    for prefix, title in (("rss-hwm/", "Peak RSS (fresh process, 3 steps; VmHWM)"),
                          ("rss/", "Peak RSS as first recorded (getrusage ru_maxrss: includes the peak of the "
                                   "benchmark process that spawned the probe, so overstated - superseded by VmHWM)")):
        rss = {key.split("@")[0].split("/")[1]: row for key, row in sorted(results["cells"].items())
               if key.startswith(prefix)}
        if rss:
            lines += ["", f"## {title}", "", "| variant | peak RSS GB | recorded |", "|:---|---:|---:|"]
            lines += [f"| {name} | {row['peak_rss_bytes'] / 1e9:.2f} | {row.get('finished', '?')} |"
                      for name, row in rss.items()]
    return lines


def chunk_lines(results: dict[str, Any]) -> list[str]:
    rows = cells_of(results, "chunk-size")
    if not rows:
        return []
    row = rows[0]
    lines = ["", "## Chunk size: the objective alone (forward + backward on one batch's fixed student logits, "
             f"{row['logits_shape']}, interleaved, load {row['load_average'][0]:.1f})", "",
             "| objective | median s | min-max | x next-token CE |", "|:---|---:|---:|---:|"]
    for name, values in row["seconds"].items():
        lines.append(f"| {name} | {row['median_seconds'][name]:.3f} | {min(values):.3f}-{max(values):.3f} | "
                     f"{row['ratio_to_next_token_ce'][name]:.2f} |")
    return lines


def fidelity_lines(results: dict[str, Any]) -> list[str]:
    rows = cells_of(results, "cache-fidelity")
    if not rows:
        return []
    row = rows[0]
    lines = ["", f"## What the k={row['k']} cache loses (one training batch, {row['tokens']} tokens)", "",
             f"Teacher mass beyond the top {row['k']}: mean {row['residual_mass_mean']:.4f}, max "
             f"{row['residual_mass_max']:.4f}. KL(full teacher ‖ cached top-k completed uniformly) per token: mean "
             f"{row['kl_full_to_uniform_completed_mean']:.4f}, max {row['kl_full_to_uniform_completed_max']:.4f} nats.",
             "", "| residual | cosine(gradient from cache, from full logits) | relative L2 difference |",
             "|:---|---:|---:|"]
    for mode, values in row["gradient"].items():
        lines.append(f"| {mode} | {values['cosine_to_full_logits_gradient']:.5f} | "
                     f"{values['relative_l2_difference']:.4f} |")
    return lines


def write_markdown(results: dict[str, Any]) -> None:
    settings = results.get("settings", {})
    loads = [row["load_average"][0] for row in results["cells"].values() if "load_average" in row]
    lines = ["# Language-model distillation: SmolLM2-135M-Instruct -> 4-layer, 256-wide Llama (news articles)", "",
             f"Settings: {settings}. One torch thread. Load average (1 min) during cells: "
             f"{min(loads):.1f}-{max(loads):.1f}." if loads else "", "", "## Held-out perplexity", ""]
    lines += quality_table(results) + cost_lines(results)
    lines += ["", ("Perplexity = exp(mean next-token NLL) over the test blocks (held-out articles); mean ± sample std "
                   "(ddof=1) over seeds. Train tokens/s is each cell's wall clock under the load it met (several cells ran "
                   "side by side on 2 shared cores): compare step costs in the interleaved timing table, not there. "
                   "Every cell's raw numbers, seed, load average and versions are in lm.json.")]
    atomic_write_text(RESULTS_DIR / "lm.md", "\n".join(line for line in lines if not (isinstance(line, float)
                                                                                          and math.isnan(line))) + "\n")
