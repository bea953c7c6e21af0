"""Markdown for benchmarks/ensemble.py: per-seed rows, mean ± std over seeds (ddof=1), the paper's figures beside."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from common import format_mean_std

# Hinton et al. 2015, section 4 (speech frame accuracy %): a baseline DNN, an ensemble of 10, one distilled DNN
PAPER = {"single": 58.9, "ensemble": 61.1, "distilled": 60.8}
SHARES = (("gain_recovered", "mean member"), ("gain_recovered_vs_student_member", "student-architecture member"),
          ("gain_recovered_vs_alone", "student from scratch"))


def pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def column(cells: list[dict[str, Any]], key: str) -> list[float]:
    return [100 * c[key] for c in cells if key in c and not math.isnan(c[key])]


def share_cell(cell: dict[str, Any], key: str) -> str:
    if key not in cell:
        return "-"
    return "no gain to share" if math.isnan(cell[key]) else f"{100 * cell[key]:.0f}%"


def mean_share(cells: list[dict[str, Any]], key: str) -> str:
    """Mean ± std of a share over the seeds that had a gain to share, saying how many those were."""
    values = column(cells, key)
    if not values:
        return "no gain to share"
    counted = "" if len(values) == len(cells) else f" ({len(values)} of {len(cells)} seeds had a gain)"
    return f"{format_mean_std(values, 0)}%{counted}"


def verdict(cells: list[dict[str, Any]]) -> str:
    """The issue's bar, read off the strictest share (against the student from scratch)."""
    values = column(cells, "gain_recovered_vs_alone")
    if len(values) < len(cells):
        return "Bar (>= 50% of the gain over the student from scratch, every seed with a gain): not met."
    mean = statistics.fmean(values)
    return (f"Bar (>= 50% of the gain over the student from scratch): {'met' if mean >= 50 else 'not met'} "
            f"(mean {mean:.0f}%, seeds {', '.join(f'{v:.0f}%' for v in values)}).")


def describe(cell: dict[str, Any]) -> str:
    models = ", ".join(f"{m['model']} {m.get('model_args', {})} ±{s}px"
                       for m, s in zip(cell["member_models"], cell["member_jitter"]))
    args = cell["resolved_args"]
    student = args.get("distill_train", args["train"])
    return (f"Spec `{cell['spec']}`{' with ' + ' '.join(cell['overrides']) if cell['overrides'] else ''}: "
            f"{cell['dataset']}, {cell['train_size']:,} training images ({cell['val_size']:,} validation images "
            f"carved from the training set). Members ({cell['members']}{', each on a bootstrap sample' if args.get('bootstrap') else ''}): "
            f"{models}; {args['train']['epochs']} epochs each. Student `{args['model']}` distilled at "
            f"T = {args.get('temperature', 4.0)} (soft {args.get('kd_weight', 0.9)}, hard {args.get('ce_weight', 0.1)}) "
            f"on ±{args.get('jitter', 0)} px views for {student['epochs']} epochs; the student from scratch trains "
            f"on that same schedule from labels alone. Accuracies on the {cell['evaluated_on']} split.")


def section(title: str, cells: list[dict[str, Any]]) -> list[str]:
    cells = sorted(cells, key=lambda c: c["seed"])
    lines = [f"## {title}", "", describe(cells[0]), "",
             ("| seed | members | mean member | student-arch member | ensemble | distilled | from scratch | "
              "share vs mean member | share vs student-arch member | share vs from scratch | seconds | load |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cells:
        members = " ".join(pct(a) for a in c["member_accuracy"])
        shares = " | ".join(share_cell(c, key) for key, _ in SHARES)
        lines.append(f"| {c['seed']} | {members} | {pct(c['single_mean_accuracy'])} | "
                     f"{pct(c.get('student_member_accuracy'))} | {pct(c['ensemble_accuracy'])} | "
                     f"{pct(c['distilled_accuracy'])} | {pct(c.get('student_alone_accuracy'))} | {shares} | "
                     f"{c['seconds']:.0f} | {c['environment']['load_average'][0]:.1f} |")
    if len(cells) > 1:
        stat = {key: format_mean_std(column(cells, key), 2) for key in
                ("single_mean_accuracy", "student_member_accuracy", "ensemble_accuracy", "distilled_accuracy",
                 "student_alone_accuracy", *(k for k, _ in SHARES))}
        lines.append(f"| mean ± std | | {stat['single_mean_accuracy']} | {stat['student_member_accuracy']} | "
                     f"{stat['ensemble_accuracy']} | {stat['distilled_accuracy']} | {stat['student_alone_accuracy']} | "
                     + " | ".join(mean_share(cells, k) for k, _ in SHARES) + " | | |")
    paper_share = (PAPER["distilled"] - PAPER["single"]) / (PAPER["ensemble"] - PAPER["single"])
    lines.append(f"| paper (speech, frame accuracy) | 10 DNNs | {PAPER['single']} | {PAPER['single']} | "
                 f"{PAPER['ensemble']} | {PAPER['distilled']} | {PAPER['single']} | {100 * paper_share:.0f}% | "
                 f"{100 * paper_share:.0f}% | {100 * paper_share:.0f}% | | |")
    lines += ["", verdict(cells)]
    lines += [f"\nNote (seed {c['seed']}): {c['note']}" for c in cells if c.get("note")]
    gains = [100 * (c["ensemble_accuracy"] - c["single_mean_accuracy"]) for c in cells]
    over_best = [100 * (c["ensemble_accuracy"] - max(c["member_accuracy"])) for c in cells]
    over_alone = [100 * (c["ensemble_accuracy"] - c["student_alone_accuracy"]) for c in cells
                  if "student_alone_accuracy" in c]
    lines += ["", f"Ensemble gain over the mean member: {format_mean_std(gains, 2)} points"
                  + (f"; over the student from scratch: {format_mean_std(over_alone, 2)} points" if over_alone else "")
                  + f"; over the best member (picked on the test split: descriptive only): "
                    f"{format_mean_std(over_best, 2)} points."]
    return lines + [""]


def render(results: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, cell in results["cells"].items():
        groups[key.rsplit("/seed", 1)[0]].append(cell)
    kind = "pilot (validation split as the test split; the test set not read)" if results.get("pilot") else "test set"
    seeds = sorted({c["seed"] for cells in groups.values() for c in cells})
    envs = {(c["environment"]["torch"], c["environment"]["numpy"], c["environment"]["torch_threads"],
             c["environment"]["cpu"], c["environment"]["cores"]) for cells in groups.values() for c in cells}
    lines = ["# One student distilled from an ensemble (Hinton et al. 2015, section 4)", "",
             (f"Produced by `python benchmarks/ensemble.py{' --pilot' if results.get('pilot') else ''}`; {kind}; "
              f"seeds {seeds}; mean ± std (sample std, ddof=1) over seeds. Share = (student - single) / "
              "(ensemble - single) against three singles: the mean member, the members of the student's "
              "architecture, and the student trained from scratch on the student's schedule (the strictest: a longer "
              "or augmented schedule is a gain of its own). Environments (torch, numpy, threads, cpu, cores): "
              f"{sorted(envs)}; each cell's commit and load average are in the JSON."), ""]
    for title in sorted(groups):
        lines += section(title, groups[title])
    return "\n".join(lines)



