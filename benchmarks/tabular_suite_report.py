"""Markdown summary of results/tabular_suite.json: per-table rows and the suite's three summary numbers per budget.

- win rate: share of tables where the distilled student's mean test score (over seeds) beats the direct student's of
  the same budget (and, for reference, the share of single (table, seed) cells);
- recovered: (distilled - direct) / (teacher - direct) on seed means, median over the tables where the teacher beats
  the direct student (the others are counted, not averaged in);
- speed-up: teacher latency / distilled latency per 1k rows (medians of interleaved timings), median over tables.
Scores: ROC AUC for classification (one-vs-rest for multiclass), R² for regression.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from common import format_mean_std

from kdistill.atomic import atomic_write_text

HEADLINE = {"classification": "auc", "regression": "r2"}


def group_cells(results: dict, current_hash: str) -> dict[tuple[str, str], list[dict]]:
    groups = defaultdict(list)
    for cell in results.get("cells", {}).values():
        if cell.get("settings_hash") == current_hash and "infeasible" not in cell:
            groups[(cell["dataset"], cell["budget"])].append(cell)
    return groups


def table_summary(cells: list[dict]) -> dict:
    """Seed means of one (table, budget) and its recovered share and speed-up."""
    metric = HEADLINE[cells[0]["task"]]
    mean = {role: statistics.fmean(c[role][metric] for c in cells) for role in ("teacher", "direct", "distilled")}
    lead = mean["teacher"] - mean["direct"]
    latency = {role: statistics.fmean(c[role]["latency_ms_per_1k"] for c in cells) for role in ("teacher", "distilled")}
    return {"metric": metric, "mean": mean, "lead": lead,
            "recovered": (mean["distilled"] - mean["direct"]) / lead if lead > 0 else None,
            "win": mean["distilled"] > mean["direct"],
            "cell_wins": sum(c["distilled"][metric] > c["direct"][metric] for c in cells), "n": len(cells),
            "speedup": latency["teacher"] / latency["distilled"]}


def summary_rows(groups: dict, budgets: list[str], tables: list[str]) -> list[str]:
    lines = [("| budget | tables | distilled wins (tables) | wins (table x seed cells) | median recovered | "
             "teacher <= direct | median speed-up vs teacher |"), "|---|---|---|---|---|---|---|"]
    for budget in budgets:
        rows = [table_summary(groups[(t, budget)]) for t in tables if groups.get((t, budget))]
        if not rows:
            continue
        recovered = [r["recovered"] for r in rows if r["recovered"] is not None]
        median_recovered = f"{statistics.median(recovered):.0%}" if recovered else "-"
        wins, cells = sum(r["win"] for r in rows), sum(r["n"] for r in rows)
        lines.append(f"| {budget} | {len(rows)} | {wins}/{len(rows)} ({wins / len(rows):.0%}) | "
                     f"{sum(r['cell_wins'] for r in rows)}/{cells} | {median_recovered} | "
                     f"{len(rows) - len(recovered)} | {statistics.median(r['speedup'] for r in rows):.1f}x |")
    return lines


def per_table_rows(groups: dict, budgets: list[str], tables: list[str]) -> list[str]:
    lines = [("| table | task | rows (train) | budget | metric | teacher | direct | distilled | recovered | "
             "latency ms/1k teacher / direct / distilled | size KB teacher / distilled | leaves direct / distilled | seeds |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for table in tables:
        for budget in budgets:
            cells = groups.get((table, budget))
            if not cells:
                continue
            s = table_summary(cells)
            metric, first = s["metric"], cells[0]
            task = first["task"]
            scores = {role: format_mean_std([c[role][metric] for c in cells], 4) for role in ("teacher", "direct",
                                                                                          "distilled")}
            latency = " / ".join(format_mean_std([c[role]["latency_ms_per_1k"] for c in cells], 2)
                                 for role in ("teacher", "direct", "distilled"))
            size = " / ".join(f"{statistics.fmean(c[role]['size_bytes'] for c in cells) / 1024:.0f}"
                              for role in ("teacher", "distilled"))
            leaves = " / ".join(f"{statistics.fmean(c[role].get('tree_leaves', 0) for c in cells):.0f}"
                                for role in ("direct", "distilled"))
            recovered = f"{s['recovered']:.0%}" if s["recovered"] is not None else "teacher <= direct"
            lines.append(f"| {table} | {task} | {first['n_rows']:,} ({first['n_train']:,}) | {budget} | {metric} | "
                         f"{scores['teacher']} | {scores['direct']} | {scores['distilled']} | {recovered} | {latency} | "
                         f"{size} | {leaves} | {len(cells)} |")
    return lines


def losses_note(groups: dict, budgets: list[str], tables: list[str]) -> list[str]:
    """One line per (table, budget) where the distilled student's seed mean does not beat the direct one's."""
    lines = []
    for budget in budgets:
        for table in tables:
            cells = groups.get((table, budget))
            if not cells:
                continue
            s = table_summary(cells)
            if s["win"]:
                continue
            why = ("the teacher itself scores no better than the direct student" if s["lead"] <= 0 else
                   f"the teacher leads the direct student by {s['lead']:.4f}")
            lines.append(f"- {table}, {budget}: distilled {s['mean']['distilled']:.4f} vs direct "
                         f"{s['mean']['direct']:.4f} ({s['metric']}, {s['n']} seeds); {why}.")
    return lines or ["- none"]


def load_averages(results: dict, current_hash: str) -> str:
    values = [c["provenance"]["load_average"][0] for c in results.get("cells", {}).values()
              if c.get("settings_hash") == current_hash]
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f}, range {min(values):.1f}-{max(values):.1f} (1-min, at cell end)"


MAX_ROWS_TEXT = "5,000"  # tabular_suite.MAX_ROWS: the full mode runs the tables the fixed mode subsamples


def write_report(results: dict, settings: dict, current_hash: str, tables: list[str], path: Path) -> None:
    budgets = list(settings["budgets"])
    groups = group_cells(results, current_hash)
    seeds_run = sorted({cell["seed"] for cells in groups.values() for cell in cells})
    budget_text = "; ".join(f"**{name}**: {spec['student']} {spec.get('params', spec.get('limit'))}"
                            for name, spec in settings["budgets"].items())
    if settings.get("mode") == "search":
        students = ("per budget the estimators' own search (student='tree', sizes 15-4095 leaves, prefer='direct' / "
                    "prefer='distilled', 20% of the training rows as validation rows) keeps the best direct and the "
                    "best distilled tree whose saved file fits the budget. The size column is the file save_student "
                    "writes, which (at tabular-core 1b244df) also holds the estimator's search log `candidates_`: it "
                    "can exceed the budget the search enforced on the student itself (credit_data, 3k rows: 91 KB "
                    "measured by the search, 164 KB saved)")
    else:
        students = (f"per budget the same student trained directly on the labels (min_samples_leaf chosen from "
                    f"{settings['direct_min_samples_leaf']} on a {settings['validation_share']:.0%} validation split "
                    f"of the training rows) and distilled from the teacher (min_samples_leaf "
                    f"{settings['distilled_min_samples_leaf']})")
    text = "\n".join([
        ("# Tabular suite: teacher vs direct vs distilled students on 20 real tables" if settings["max_rows"] else
         f"# Tabular suite at full size: the tables above {MAX_ROWS_TEXT} rows, every row"),
        "",
        (f"LightGBM teacher ({settings['teacher']}); {students}; distilled students learn from the teacher's outputs "
         f"on the training rows plus {settings['multiplier']:g}x {settings['augmentation']} synthetic rows "
         f"({settings['augmentation_params']}). Budgets: {budget_text}. Seeds {seeds_run} (each seed draws "
         + (f"the subsample above {settings['max_rows']:,} rows, " if settings["max_rows"] else "")
         + f"the {settings['test_size']:.0%} test split and the models); mean ± sample std over seeds. Tables and "
         "checksums: benchmarks/tabular_suite_tables.py."),
        "",
        ("Latency: CPU milliseconds (process_time, one thread) of predict_proba / predict on a 1k-row DataFrame batch "
        "of test rows, teacher and students timed in turns in one process (9 repeats; median per cell, mean of "
        "medians over seeds); CPU time, not wall time, because ~16 processes shared the 2 cores and preempted "
        "wall-clock calls at random (each cell also keeps the wall-clock median). Size: saved "
        "file (students: skops without the teacher; teacher: LightGBM model file). Score: ROC AUC (classification, "
        "one-vs-rest for multiclass) or R² (regression)."),
        "",
        f"Settings hash {current_hash}; machine load during the run: {load_averages(results, current_hash)}.",
        "",
        "## Summary",
        "",
        *summary_rows(groups, budgets, tables),
        "",
        ("recovered = (distilled - direct) / (teacher - direct) on seed means; median over tables where the teacher "
        "beats the direct student. speed-up = teacher / distilled latency per 1k rows."),
        "",
        "## Where distilled does not beat direct",
        "",
        *losses_note(groups, budgets, tables),
        "",
        "## Budgets no student fits",
        "",
        *([f"- {c['dataset']} seed {c['seed']}, {c['budget']}: {c['infeasible']}" for c in
           results.get("cells", {}).values() if c.get("settings_hash") == current_hash and "infeasible" in c]
          or ["- none"]),
        "",
        "## Per table",
        "",
        *per_table_rows(groups, budgets, tables),
        "",
    ])
    atomic_write_text(path, text)
