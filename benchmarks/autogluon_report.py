"""Markdown for results/tabular_autogluon.json, with kdistill's students of the same split beside AutoGluon's.

Imports neither kdistill nor AutoGluon: it reads the JSON result files, so it runs in either venv. Run it alone
(``python benchmarks/autogluon_report.py``) to rewrite results/tabular_autogluon.md and
results/tabular_autogluon_kdistill.md from the JSON files.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

HEADLINE = {"classification": ("auc", "accuracy"), "regression": ("r2", "rmse")}
AUTOGLUON_MODEL = "LightGBM_DSTL"  # the bar: AutoGluon's distilled LightGBM (its best single distilled model)


def autogluon_target(autogluon: dict, name: str, seed: int) -> dict | None:
    """AutoGluon's best measurement of ``AUTOGLUON_MODEL`` on ``name`` and ``seed`` (highest test score, then lowest
    latency, over the cells with different time limits), or None when AutoGluon has not run that seed."""
    found = []
    for key, cell in autogluon.get("cells", {}).items():
        row = cell["models"].get(AUTOGLUON_MODEL) if cell["dataset"] == name and cell["seed"] == seed else None
        if row:
            metric = "auc" if cell["task"] == "classification" else "r2"
            found.append({"cell": key, "metric": metric, "score": row[metric], **row})
    return max(found, key=lambda row: (round(row["score"], 6), -row["latency_ms_per_1k"])) if found else None


def describe_student(student: dict) -> str:
    params = student["params"]
    if student["family"] == "boosting":
        size = f"{student['rounds']} of {params['max_iter']} rounds x {params['max_leaf_nodes']} leaves"
    elif student["family"] == "tree":
        size = f"{params.get('max_leaf_nodes')} leaves max"
    else:
        size = ", ".join(f"{key} {value}" for key, value in params.items())
    return f"{student['variant']} {student['family']} ({size})"


def kdistill_rows(suite: dict, name: str, seed: int, search: dict | None = None) -> list[dict]:
    """kdistill's rows on this table and seed: the budget search of autogluon_kdistill_side.py when it has run (the
    kept student, the best student of the other variant, the teacher), then the suite's fixed-size trees."""
    rows = []
    cells = (search or {}).get("cells", {})
    cell = cells.get(f"{name}|{seed}|refit") or cells.get(f"{name}|{seed}")  # refit cells supersede the session-6 ones
    if cell:
        student, other = cell["student"], cell["other_variant"]
        budget = f"max_latency_ms={cell['budget_ms_per_1k']:.2f}"
        rows.append({"model": f"kdistill budget search ({budget}) kept: {describe_student(student)}", **student,
                     "fit_time": cell["fit_seconds"], "student": True, "kept": True})
        rows.append({"model": f"kdistill same search, best {other['variant']} student: {other['family']} "
                              f"{other['params']}", **other, "fit_time": None, "student": True})
        rows.append({"model": "kdistill teacher (LightGBM)", **cell["teacher"], "fit_time": None})
    for cell in suite.get("cells", {}).values():
        if cell["dataset"] != name or cell["seed"] != seed:
            continue
        if not rows:
            rows.append({"model": "kdistill teacher (LightGBM)", **cell["teacher"], "fit_time": cell["teacher"]["fit_seconds"]})
        for role in ("direct", "distilled"):
            leaves = cell[role].get("tree_leaves")
            rows.append({"model": f"kdistill {role} tree, {cell['budget']} budget ({leaves} leaves)", **cell[role],
                         "fit_time": cell[role]["fit_seconds"], "student": True})
    return rows


def row_text(row: dict, task: str) -> str:
    main, other = HEADLINE[task]
    size = "" if row.get("size_bytes") is None else f"{row['size_bytes'] / 1024:.0f}"
    fit = "" if row.get("fit_time") is None else f"{row['fit_time']:.0f}"
    return (f"| {row['model']} | {row[main]:.4f} | {row[other]:.4f} | {row['latency_ms_per_1k']:.2f} "
            f"({row['latency_p10']:.2f}-{row['latency_p90']:.2f}) | {size} | {fit} |")


def verdict(ag: dict, kd_rows: list[dict], task: str) -> str:
    """Compare with the student kdistill's budget search kept (chosen on validation rows) when it is within this
    AutoGluon model's latency; without one, with the best fixed-size suite tree within it (picked here on test)."""
    main, _ = HEADLINE[task]
    limit = ag["latency_ms_per_1k"]
    within = [r for r in kd_rows if r.get("student") and r["latency_ms_per_1k"] <= limit]
    kept = [r for r in within if r.get("kept")]
    if not within:
        return f"No kdistill student is within AutoGluon's distilled latency ({limit:.2f} ms per 1k rows)."
    best = kept[0] if kept else max(within, key=lambda r: r[main])
    how = ("the budget search kept (validation rows)" if kept else
           "best of the suite's fixed-size trees on these test rows (no budget-search row within this latency)")
    outcome = "matches or beats" if best[main] >= ag[main] else "falls short of"
    return (f"kdistill within {limit:.2f} ms per 1k rows, {how}: {best['model']}, {main} {best[main]:.4f} at "
            f"{best['latency_ms_per_1k']:.2f} ms - it {outcome} this AutoGluon student ({main} {ag[main]:.4f}, "
            f"difference {best[main] - ag[main]:+.4f}).")


def write_markdown(results: dict, suite: dict, path: Path, search: dict | None = None) -> None:
    lines = ["# AutoGluon 1.6.3 distill() beside kdistill, same splits", "",
             ("AutoGluon: `TabularPredictor(label, eval_metric).fit(train, presets='medium_quality', time_limit, "
             "num_cpus=1)` then `distill(time_limit, hyperparameters={GBM, NN_TORCH, RF})` (default spunge "
             "augmentation), run in a separate venv by benchmarks/autogluon_side_by_side.py on the row positions "
             "benchmarks/tabular_suite.py wrote (same table checksum, same train and test rows). 'chosen' = the "
             "distilled model with the best validation score. kdistill rows come from results/tabular_suite.json "
             "(same table, seed and test rows); the budget-search rows from results/tabular_autogluon_kdistill.json "
             "(benchmarks/autogluon_kdistill_side.py: `student='auto', max_latency_ms=<LightGBM_DSTL's latency>`, "
             "the estimators' defaults otherwise, chosen on validation rows carved from the same training rows; "
             "seeds 0-2 there, AutoGluon seed 0 only - see results/tabular_autogluon_kdistill.md)."), "",
             ("Latency = CPU ms (process_time) per 1k rows, median (p10-p90) over 9 interleaved calls on a 1k-row "
             "DataFrame batch (CPU of all the process's threads; OMP_NUM_THREADS=1, num_cpus=1). CPU time because the machine ran ~16 processes on 2 cores (wall-clock "
             "calls were preempted at random); the two sides ran in different processes, so compare across them "
             "as close but not exact. Size = bytes on disk: AutoGluon's `clone_for_deployment` for that model alone; kdistill's "
             "skops student file / LightGBM model file. Fit s = training wall-clock seconds (AutoGluon's leaderboard "
             "fit_time per model; for kdistill's budget search the whole fit: teacher, Gibbs rows, every candidate "
             "distilled and direct, timing - on a machine at load ~14)."), ""]
    for key, cell in sorted(results.get("cells", {}).items()):
        task = cell["task"]
        main, other = HEADLINE[task]
        lines += [f"## {cell['dataset']} (seed {cell['seed']}, {cell['n_train']:,} train / {cell['n_test']:,} test rows)",
                  "", (f"distill() students {list(cell['settings']['students'])}, time limits fit "
                       f"{cell['settings']['fit_time_limit']:g} s / distill {cell['settings']['distill_time_limit']:g} s. "
                       f"AutoGluon fit {cell['fit_seconds']:.0f} s (models: {', '.join(cell['all_models_trained'])}), "
                  f"distill {cell['distill_seconds']:.0f} s; load average at the end "
                  f"{cell['provenance']['load_average'][0]:.1f}."), "",
                  f"| model | {main} | {other} | latency ms/1k | size KB | fit s |", "|---|---|---|---|---|---|"]
        if cell["distill_seconds"] >= 0.95 * cell["settings"]["distill_time_limit"]:
            lines[-2:-2] = [(f"**distill() ran into its {cell['settings']['distill_time_limit']:g} s time limit (on a "
                            "machine shared by ~16 processes): its students may be cut short - see the cell with the "
                            "longer limit when there is one.**"), ""]
        for model, row in cell["models"].items():
            label = f"AutoGluon {model}" + (" (teacher: best model)" if model == cell["teacher_model"] else "") + (
                " (chosen)" if model == cell["chosen_distilled"] else "")
            lines.append(row_text({**row, "model": label}, task))
        kd_rows = kdistill_rows(suite, cell["dataset"], cell["seed"], search)
        lines += [row_text(row, task) for row in kd_rows]
        lines.append("")
        for model in cell["distilled_models"]:  # the chosen one first, then every single distilled model
            if model == cell["chosen_distilled"] or "Ensemble" not in model:
                lines.append(f"- AutoGluon {model}: " + verdict(cell["models"][model], kd_rows, task))
        lines.append("")
    write_text(path, "\n".join(lines))


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def mean_std(values: list[float], digits: int = 4) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def write_search_markdown(search: dict, path: Path, autogluon: dict | None = None) -> None:
    """results/tabular_autogluon_kdistill.md: the budget search per seed, and whether it meets the issue's bar."""
    lines = ["# kdistill's budget search within AutoGluon's distilled latency", "",
             ("`DistilledClassifier / DistilledRegressor(teacher='lightgbm', student='auto', max_latency_ms=B)` on "
              "the AutoGluon side-by-side splits (benchmarks/autogluon_kdistill_side.py), B = the CPU ms per 1k rows "
              "AutoGluon's distilled LightGBM (LightGBM_DSTL) took in results/tabular_autogluon.json. The search "
              "chooses on validation rows carved from the training rows; test scores and latencies (CPU ms per 1k-row "
              "test batch, median and p10-p90 of 9 calls interleaved with kdistill's teacher) come after. A seed is "
              "compared with AutoGluon's student of the same seed (same training and test rows) when AutoGluon ran "
              "it, else - in parentheses - with seed 0's. AutoGluon's latencies were measured in another process: "
              "close but not the same conditions (loads are in results/tabular_autogluon.json)."), ""]
    by_dataset: dict[str, dict[bool, list[dict]]] = {}
    for cell in search.get("cells", {}).values():
        refit = bool(cell["search"].get("refit"))
        by_dataset.setdefault(cell["dataset"], {}).setdefault(refit, []).append(cell)
    for name, groups in by_dataset.items():
        target = next(iter(groups.values()))[0]["autogluon_target"]
        lines += [f"## {name}", "", (f"AutoGluon {target['model']} (seed 0, cell `{target['cell']}`): {target['metric']} "
                                     f"{target['score']:.4f} at {target['latency_ms_per_1k']:.2f} ms per 1k rows."), ""]
        for refit in sorted(groups, reverse=True):
            lines += search_rows(groups[refit], target, refit, autogluon or {})
        lines += candidate_rows(groups[max(groups)])
    write_text(path, "\n".join(lines))


def search_rows(cells: list[dict], target: dict, refit: bool, autogluon: dict) -> list[str]:
    """One table row per seed (kept student, other variant, teacher, AutoGluon's student of that seed) and the
    mean +- std over seeds; ``target`` is seed 0's AutoGluon student, the bar for seeds AutoGluon did not run."""
    cells = sorted(cells, key=lambda c: c["seed"])
    metric = target["metric"]
    heading = ("With refit (default): teacher and kept students trained again on all training rows once the "
               "validation rows chose" if refit else "Without refit (session-6 cells): students and teacher "
               "trained on the 80 % fitting rows only")
    lines = [f"{heading}:", "",
             f"| seed | kept student | val {metric} | test {metric} | ms/1k (p10-p90) | size KB | other variant test "
             f"{metric} | teacher test {metric} / ms | AutoGluon {AUTOGLUON_MODEL} {metric} / ms | load | meets the bar |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    paired = []
    for cell in cells:
        student, other, teacher = cell["student"], cell["other_variant"], cell["teacher"]
        chosen_val = next(row["score"] for row in cell["candidates"] if row["chosen"])
        own = autogluon_target(autogluon, cell["dataset"], cell["seed"])
        bar = own or target
        meets = student[metric] >= bar["score"] and student["latency_ms_per_1k"] <= bar["latency_ms_per_1k"]
        verdict = ("yes" if meets else "no") if own else f"({'yes' if meets else 'no'} vs seed-0 AutoGluon)"
        autogluon_text = "" if own is None else f"{own[metric]:.4f} / {own['latency_ms_per_1k']:.1f}"
        if own:
            paired.append((student[metric], own["score"]))
        lines.append(f"| {cell['seed']} | {describe_student(student)} | {chosen_val:.4f} | {student[metric]:.4f} | "
                     f"{student['latency_ms_per_1k']:.2f} ({student['latency_p10']:.2f}-{student['latency_p90']:.2f})"
                     f" | {student['size_bytes'] / 1024:.0f} | {other[metric]:.4f} ({other['family']}) | "
                     f"{teacher[metric]:.4f} / {teacher['latency_ms_per_1k']:.1f} | "
                     f"{autogluon_text} | "
                     f"{cell['provenance']['load_average_1min']:.1f} | {verdict} |")
    if len(cells) > 1:
        lines += ["", (f"Over seeds {[c['seed'] for c in cells]}: kept student test {metric} "
                       f"{mean_std([c['student'][metric] for c in cells])}, teacher "
                       f"{mean_std([c['teacher'][metric] for c in cells])}, latency "
                       f"{mean_std([c['student']['latency_ms_per_1k'] for c in cells], 2)} ms per 1k rows.")]
    if len(paired) > 1:
        lines += ["", (f"Paired over the {len(paired)} seeds AutoGluon ran: AutoGluon's student {metric} "
                       f"{mean_std([ag for _, ag in paired])}; kdistill minus AutoGluon "
                       f"{mean_std([kd - ag for kd, ag in paired])} ({sum(kd >= ag for kd, ag in paired)} of "
                       f"{len(paired)} seeds at or above).")]
    return lines + [""]


def candidate_rows(cells: list[dict]) -> list[str]:
    """The candidates the search compared on the lowest seed (scores are of the students before any refit)."""
    cell = min(cells, key=lambda c: c["seed"])
    lines = [f"Candidates of seed {cell['seed']} (validation score, validation-batch CPU ms per 1k rows, before the "
             "refit; * = kept):", "",
             "| family | params | variant | val score | ms/1k | size KB | within budget |", "|---|---|---|---|---|---|---|"]
    for row in sorted(cell["candidates"], key=lambda r: r["latency_ms_per_1k"]):
        lines.append(f"| {row['family']} | {row['params']} | {row['variant']}{' *' if row['chosen'] else ''} | "
                     f"{row['score']:.4f} | {row['latency_ms_per_1k']:.2f} | {row['size_bytes'] / 1024:.0f} | "
                     f"{row['within_budget']} |")
    return lines + [""]


def main() -> int:
    results_dir = Path(__file__).resolve().parent / "results"
    read = lambda name: json.loads((results_dir / name).read_text()) if (results_dir / name).exists() else {"cells": {}}  # noqa: E731
    search = read("tabular_autogluon_kdistill.json")
    write_markdown(read("tabular_autogluon.json"), read("tabular_suite.json"), results_dir / "tabular_autogluon.md", search)
    if search["cells"]:
        write_search_markdown(search, results_dir / "tabular_autogluon_kdistill.md", read("tabular_autogluon.json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
