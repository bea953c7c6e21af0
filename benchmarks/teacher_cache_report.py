"""Markdown for benchmarks/teacher_cache.py: step-cost ratios, accuracy per mode, cache sizes and RSS over training."""

from __future__ import annotations

import json
from typing import Any

from common import format_mean_std


def pct(values: list[float]) -> str:
    return format_mean_std([100 * value for value in values], 2)


def ratio_text(r: dict[str, float]) -> str:
    flag = " ⚠" if r["median"] < 1.0 else ""
    return f"{r['median']:.3f}{flag} [{r['q1']:.3f}-{r['q3']:.3f}] ({r['min']:.2f}-{r['max']:.2f})"


def step_cost_lines(cells: dict[str, Any]) -> list[str]:
    lines = ["## Step cost: cached and recomputing distillation vs plain student training", "",
             ("One epoch through the training loop per variant, variants interleaved in rounds (order rotated, a "
             "warm-up round discarded); ratio = variant epoch / plain epoch of the same round. Cells: median "
             "[IQR] (min-max) over rounds. CPU = process CPU seconds (what the step costs; other jobs' time on the "
             "core is not counted), wall = elapsed seconds. ⚠ = median below 1.0, a measurement error."), "",
             ("| student | student / teacher MFLOPs | steps | rounds | plain CPU s | clock | cached full / plain "
             "| cached top-k / plain | recompute / plain | load avg before → after |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, timing in cells.items():
        if not key.startswith("steptime/"):
            continue
        _, dataset, student = key.split("/")
        ratios = timing["ratios"]
        load = f"{timing['load_average_before'][0]:.1f} → {timing['load_average_after'][0]:.1f}"
        for clock in ("cpu", "wall"):
            lead = (f"| {dataset}/{student} | {timing['student_mflops']:.2f} / {timing['teacher_mflops']:.2f} "
                    f"| {timing['steps_per_epoch']} | {timing['rounds']} "
                    f"| {timing['median_seconds']['plain']['cpu']:.2f} ") if clock == "cpu" else "| | | | | "
            lines.append(f"{lead}| {clock} | {ratio_text(ratios['cache-full'][clock])} "
                         f"| {ratio_text(ratios['cache-topk'][clock])} | {ratio_text(ratios['recompute'][clock])} "
                         f"| {load if clock == 'cpu' else ''} |")
        for flag in timing.get("flags", []):
            lines.append(f"| {dataset}/{student} | flag: {flag} | | | | | | | | |")
    for prefix, title in REPEATED_LOCKSTEP.items():
        lines += repeated_lockstep_lines(cells, prefix, title)
    lines += ["", "### Lockstep, one run per student (earlier code: before the cache-step changes)", "",
              ("Each variant trains its own student through the loop's step; one step of every variant per round. "
              "Ratio of median step times, and median [IQR] of per-round ratios. Superseded by the repeated cells "
              "above (same procedure, current code)."), "",
              ("| student | epochs | plain µs/step | cached full / plain | cached top-k / plain | recompute / plain "
              "| load avg before → after |"), "|---|---|---|---|---|---|---|"]
    for key, step in cells.items():
        if key.startswith("lockstep/"):
            r = step["ratios"]
            text = {m: f"{r[m]['ratio_of_medians']:.3f} ({r[m]['median']:.3f} [{r[m]['q1']:.3f}-{r[m]['q3']:.3f}])"
                    for m in r}
            lines.append(f"| {key[9:]} | {step['epochs']} | {step['median_step_us']['plain']:.0f} "
                         f"| {text['cache-full']} | {text['cache-topk']} | {text['recompute']} "
                         f"| {step['load_average_before'][0]:.1f} → {step['load_average_after'][0]:.1f} |")
            lines += [f"| flag: {flag} | | | | | | |" for flag in step.get("flags", [])]
    return lines


REPEATED_LOCKSTEP = {
    "lockstep-repeated/": "Lockstep, repeated: the variants step in turn, each step timed alone (thread CPU)",
    "lockstep-repeated-native/": ("Lockstep, repeated, intermediate version (commit b05a34f: the Hinton loss as a "
                                  "native composition from the log-probs, CE through log_softmax_last)"),
}


def repeated_lockstep_lines(cells: dict[str, Any], prefix: str, title: str) -> list[str]:
    repeated = {key: cell for key, cell in cells.items() if key.startswith(prefix)}
    if not repeated:
        return []
    lines = ["", f"### {title}", "",
             ("Each variant trains its own student through the loop's step (loader, strategy, finite check, "
             "backward, optimizer and scheduler step, running means); one step of every variant per round, each timed "
             "in thread CPU µs, 20 warm-up steps dropped. One run = every variant from a fresh student over the "
             "epochs; ratio of a run = its variant's median step / its plain median step. Cells: median over runs "
             "[p10-p90 over runs]; per-round: p10-median-p90 of the ratio of each round's two steps, pooled over "
             "runs. ⚠ = median below 1.0, a measurement error. Torch threads 1."), "",
             ("| student | runs x epochs | plain µs/step median [p10-p90] | cached full / plain | cached top-k / plain "
             "| recompute / plain | per-round full; top-k | load avg (1 min) min-max |"),
             "|---|---|---|---|---|---|---|---|"]
    notes = set()
    for key, cell in repeated.items():
        r, plain = cell["ratios"], cell["plain_step_us"]
        text = {m: f"{r[m]['median']:.3f}{' ⚠' if r[m]['median'] < 1.0 else ''} [{r[m]['p10']:.3f}-{r[m]['p90']:.3f}]"
                for m in r}
        rounds = "; ".join(f"{r[m]['per_round_p10']:.2f}-{r[m]['per_round_median']:.2f}-{r[m]['per_round_p90']:.2f}"
                           for m in ("cache-full", "cache-topk"))
        load = cell["load_average_1min"]
        lines.append(f"| {key.split('/', 1)[1]} | {cell['repeats']} x {cell['epochs']} | {plain['median']:.0f} "
                     f"[{plain['p10']:.0f}-{plain['p90']:.0f}] | {text['cache-full']} | {text['cache-topk']} "
                     f"| {text['recompute']} | {rounds} | {load['min']:.1f}-{load['max']:.1f} |")
        lines += [f"| flag: {flag} | | | | | | | |" for flag in cell.get("flags", []) + runs_below_one(cell)]
        if cell.get("machine_note"):
            notes.add(cell["machine_note"])
    lines += [""] + [f"Machine during these runs: {note}" for note in sorted(notes)] if notes else []
    return lines


def runs_below_one(cell: dict[str, Any]) -> list[str]:
    """Single runs whose ratio fell below 1.0: a distillation step cannot cost less than the plain one, so each is a
    measurement error (flagged even when the median over runs is above 1.0)."""
    return [f"run {number} {mode} ratio {ratio:.3f} < 1.0: measurement error"
            for number, run in enumerate(cell["runs"], 1) for mode, ratio in run["ratio_of_medians"].items()
            if ratio < 1.0]


READERS = {"pread": "pread gather (current)", "release": "mmap + release every 64 MiB (previous)",
           "no-release": "mmap, never released"}


def rss_lines(results: dict[str, Any]) -> list[str]:
    cells = {key: value for key, value in results["cells"].items() if key.startswith("rss/")}
    if not cells:
        return []
    lines = ["", "## RSS while training reads a cache with stored features (child process)", "",
             ("Sampled from /proc/self/statm every 5 steps of training (after data loading); growth = RSS minus its "
             "value at the first sample after step 0 (the loop's own allocations are done by then)."), "",
             ("| run | training data MB | cache MB | epochs x steps | RSS before training → after warm-up MB | RSS "
             "growth by end of each epoch MB | peak RSS growth MB | peak file-backed RSS MB | reader |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for key, cell in cells.items():
        lines.append(f"| {key[4:]} | {cell['dataset_array_mb']:.0f} | {cell['cache_mb']:.0f} "
                     f"| {cell['epochs']} x {cell['steps_per_epoch']} "
                     f"| {cell['rss_before_training_mb']:.0f} → {cell['rss_after_warmup_mb']:.0f} "
                     f"| {', '.join(str(g) for g in cell['growth_by_end_of_epoch_mb'])} "
                     f"| {cell['rss_growth_after_warmup_mb']:.0f} | {cell['file_rss_peak_mb']:.0f} "
                     f"| {READERS.get(key.split('/')[-1], cell.get('reader', '?'))} |")
    if results.get("rss_plot"):
        lines += ["", f"![RSS over training steps]({results['rss_plot']})"]
    lines += ["", ("`pread`: the current reader - per-batch feature rows are read with pread into the output array, "
              "so no cache page is mapped into the process; only the logits table of one view is decoded through a "
              "map, released shard by shard. `release` / `no-release`: the previous reader (every shard memory-mapped, "
              "pages dropped with madvise DONTNEED whenever an upper bound of rows x max(pages spanned, 64 KiB "
              "fault-around) passed 64 MiB, or never): on this kernel one fault maps a whole page-cache folio, so a "
              "few batches mapped nearly the whole cache and releasing only made RSS oscillate. The series behind "
              "the curves are in the JSON (`series`: step, seconds, RSS MB, file-backed RSS MB).")]
    return lines


def render_markdown(results: dict[str, Any], jitter: int, temperature: float, modes: tuple[str, ...]) -> str:
    """The results file as markdown: step-cost ratios, accuracy per mode, cache sizes, RSS during training."""
    cells, settings = results["cells"], results["settings"]
    lines = ["# Teacher cache benchmark", "",
             f"Settings: {json.dumps(settings)}; environment: {json.dumps(results['environment'])}.",
             (f"Student inputs jittered by ±{jitter} px; Hinton KD at T={temperature}; cache: {settings['views']} "
             f"views per sample, top-k = {settings['topk']}."), ""]
    lines += step_cost_lines(cells)
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
    for note in results.get("notes", []):
        lines += ["", note]
    lines += ["", "## Cache size", "", "| cache | views | bytes per sample (all views) | total MB | build s |",
              "|---|---|---|---|---|"]
    for key, info in cells.items():
        if key.startswith("cache/"):
            lines.append(f"| {key[6:]} | {info['views']} | {info['bytes_per_sample']:.0f} | {info['bytes'] / 1e6:.2f} "
                         f"| {info['build_seconds']:.1f} |")
    lines += rss_lines(results)
    return "\n".join(lines) + "\n"
