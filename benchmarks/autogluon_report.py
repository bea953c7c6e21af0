"""Markdown for results/tabular_autogluon.json, with kdistill's students of the same split beside AutoGluon's.

Imports neither kdistill nor AutoGluon: it reads the two JSON result files, so it runs in either venv.
"""

from __future__ import annotations

import os
from pathlib import Path

HEADLINE = {"classification": ("auc", "accuracy"), "regression": ("r2", "rmse")}


def kdistill_rows(suite: dict, name: str, seed: int, boosting: dict | None = None) -> list[dict]:
    """kdistill's teacher and students on this table and seed, one row per (budget, role); teacher once; then the
    boosting student of autogluon_kdistill_side.py when it has run."""
    rows = []
    cell = (boosting or {}).get("cells", {}).get(f"{name}|{seed}")
    if cell:
        student = cell["student"]
        rows.append({"model": f"kdistill boosting student, defaults ({student['chosen']} kept, {student['rounds']} "
                              f"rounds x {student['params']['max_leaf_nodes']} leaves)", **student,
                     "fit_time": cell["fit_seconds"], "student": True})
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
    return (f"| {row['model']} | {row[main]:.4f} | {row[other]:.4f} | {row['latency_ms_per_1k']:.2f} "
            f"({row['latency_p10']:.2f}-{row['latency_p90']:.2f}) | {row['size_bytes'] / 1024:.0f} | {row['fit_time']:.0f} |")


def verdict(ag: dict, kd_rows: list[dict], task: str) -> str:
    main, _ = HEADLINE[task]
    limit = ag["latency_ms_per_1k"]
    within = [r for r in kd_rows if r.get("student") and r["latency_ms_per_1k"] <= limit]
    if not within:
        return f"No kdistill student is within AutoGluon's distilled latency ({limit:.2f} ms per 1k rows)."
    best = max(within, key=lambda r: r[main])
    outcome = "matches or beats" if best[main] >= ag[main] else "falls short of"
    return (f"kdistill's best student within {limit:.2f} ms per 1k rows: {best['model']}, {main} {best[main]:.4f} at "
            f"{best['latency_ms_per_1k']:.2f} ms - it {outcome} this AutoGluon student ({main} {ag[main]:.4f}, "
            f"difference {best[main] - ag[main]:+.4f}).")


def write_markdown(results: dict, suite: dict, path: Path, boosting: dict | None = None) -> None:
    lines = ["# AutoGluon 1.6.3 distill() beside kdistill, same splits", "",
             ("AutoGluon: `TabularPredictor(label, eval_metric).fit(train, presets='medium_quality', time_limit, "
             "num_cpus=1)` then `distill(time_limit, hyperparameters={GBM, NN_TORCH, RF})` (default spunge "
             "augmentation), run in a separate venv by benchmarks/autogluon_side_by_side.py on the row positions "
             "benchmarks/tabular_suite.py wrote (same table checksum, same train and test rows). 'chosen' = the "
             "distilled model with the best validation score. kdistill rows come from results/tabular_suite.json "
             "(same table, seed and test rows); the boosting row from results/tabular_autogluon_kdistill.json "
             "(benchmarks/autogluon_kdistill_side.py: student='boosting', 300 rounds max x 31 leaves, library "
             "defaults otherwise, same rows)."), "",
             ("Latency = CPU ms (process_time) per 1k rows, median (p10-p90) over 9 interleaved calls on a 1k-row "
             "DataFrame batch (CPU of all the process's threads; OMP_NUM_THREADS=1, num_cpus=1). CPU time because the machine ran ~16 processes on 2 cores (wall-clock "
             "calls were preempted at random); the two sides ran in different processes, so compare across them "
             "as close but not exact. Size = bytes on disk: AutoGluon's `clone_for_deployment` for that model alone; kdistill's "
             "skops student file / LightGBM model file. Fit s = training wall-clock seconds (AutoGluon's leaderboard "
             "fit_time per model)."), ""]
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
        kd_rows = kdistill_rows(suite, cell["dataset"], cell["seed"], boosting)
        lines += [row_text(row, task) for row in kd_rows]
        lines.append("")
        for model in cell["distilled_models"]:  # the chosen one first, then every single distilled model
            if model == cell["chosen_distilled"] or "Ensemble" not in model:
                lines.append(f"- AutoGluon {model}: " + verdict(cell["models"][model], kd_rows, task))
        lines.append("")
    text = "\n".join(lines)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
