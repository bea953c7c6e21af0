"""The headline section of hinton_mnist.md: one row per ``headline:<tag>`` of benchmarks/mnist_headline.py."""

from __future__ import annotations

from typing import Any

from common import format_mean_std

RECIPE_STAGES = ("teacher", "cache", "distilled")  # what the recipe costs to reach its student


def headline_cells(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{tag: finished cells in seed order} for the cells benchmarks/mnist_headline.py wrote."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(results.get("cells", {})):
        cell = results["cells"][key]
        if key.startswith("headline:") and cell.get("done"):
            rows.setdefault(cell["tag"], []).append(cell)
    return rows


def stage_minutes(cells: list[dict[str, Any]], stages: tuple[str, ...], field: str) -> str:
    return format_mean_std([sum(c["stages"][s][field] for s in stages) / 60 for c in cells], 1)


def render_headline(results: dict[str, Any]) -> list[str]:
    rows = headline_cells(results)
    if not rows:
        return []
    lines = [
        "", "## Headline recipe: the paper's 784-800-800 MLP from a small-CNN teacher (`mnist-headline`)", "",
        ("Produced by `python benchmarks/mnist_headline.py` (`--tag` rows: recipe overrides). Test errors out of "
         "10,000, mean ± std over seeds; minutes are wall (and process CPU) per stage on this shared 2-core machine, "
         "with the 1-minute load average around the stages: a load above 2 means other jobs shared the cores, so "
         "wall time on an idle machine is lower. Recipe = teacher + teacher cache + distilled student; the baseline "
         "(the same MLP trained alone, which `kdistill run` also trains) is listed apart. Paper: teacher 67, "
         "distilled 74, baseline 146."),
        "",
        ("| row | seeds | distilled student | baseline | teacher | recipe min wall (CPU) | teacher / cache / "
         "distilled / baseline min wall | load | teacher per seed | what differs |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for tag, cells in rows.items():
        seeds = ",".join(str(c["seed"]) for c in cells)
        errors = {name: [c["errors"][name] for c in cells] for name in ("distilled", "baseline", "teacher")}
        per_stage = " / ".join(stage_minutes(cells, (s,), "wall_seconds") for s in (*RECIPE_STAGES, "baseline"))
        loads = [c["stages"][s][k] for c in cells for s in RECIPE_STAGES for k in ("load_before", "load_after")]
        lines.append(
            f"| {tag} | {seeds} | {format_mean_std(errors['distilled'])} | {format_mean_std(errors['baseline'])} | "
            f"{format_mean_std(errors['teacher'])} | {stage_minutes(cells, RECIPE_STAGES, 'wall_seconds')} "
            f"({stage_minutes(cells, RECIPE_STAGES, 'cpu_seconds')}) | {per_stage} | {min(loads):.1f}-{max(loads):.1f} "
            f"| {'shared (teacher.weights)' if cells[0].get('shared_teacher') else 'own'} | "
            f"{cells[0].get('note') or ' '.join(cells[0].get('overrides', [])) or 'as shipped'} |"
        )
    resumed = [f"{tag} seed {c['seed']} {name} (after {t['resumed_after_epochs']} epochs)"
               for tag, cells in rows.items() for c in cells for name, t in c["stages"].items()
               if t.get("resumed_after_epochs")]
    if resumed:
        lines += ["", "Stages resumed after a kill (their wall/CPU minutes cover only the resumed part; the per-epoch "
                      "seconds are in the stage's metrics.jsonl): " + "; ".join(resumed) + "."]
    lines += ["", "Per seed (distilled / baseline / teacher test errors):", ""]
    lines += [f"- {tag} seed {c['seed']}: {c['errors']['distilled']} / {c['errors']['baseline']} / "
              f"{c['errors']['teacher']}" for tag, cells in rows.items() for c in cells]
    return lines
