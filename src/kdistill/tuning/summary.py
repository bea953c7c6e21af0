"""What a study found: the best recipe (best.yaml), parameter importances (importance.png) and every trial
(summary.json, summary.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from kdistill.atomic import atomic_write_text
from kdistill.config import Recipe, to_dict
from kdistill.errors import KdistillError
from kdistill.tuning.space import apply_params
from kdistill.tuning.study import Settings, import_optuna

log = logging.getLogger("kdistill")

BEST_RECIPE = "best.yaml"
IMPORTANCE_PLOT = "importance.png"


def summarise(study: Any, base: Recipe, settings: Settings, study_dir: Path) -> dict[str, Any]:
    """Write best.yaml, importance.png (when it can be estimated), summary.json and summary.md; return the summary."""
    optuna = import_optuna()
    states = optuna.trial.TrialState
    trials = [trial_row(trial) for trial in study.get_trials(deepcopy=False)]
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == states.COMPLETE]
    if not complete:
        errors = [row["error"] for row in trials if row.get("error")]
        raise KdistillError(f"no trial of the study in {study_dir} completed"
                            + (f" (first error: {errors[0]})" if errors else "")
                            + "; fix the recipe or the search space, then rerun to continue")
    best = study.best_trial
    best_recipe = apply_params(base, best.params)
    best_recipe.name = f"{base.name}-tuned"
    best_recipe.description = (f"{base.name} with the values of trial {best.number} of the study in {study_dir} "
                               f"(validation accuracy {100 * best.value:.2f}%)")
    atomic_write_text(study_dir / BEST_RECIPE, yaml.safe_dump(to_dict(best_recipe), sort_keys=False))
    importances, note = parameter_importances(study, complete)
    summary = {
        "study_dir": str(study_dir),
        "recipe": base.name,
        "method": base.distill.method,
        "objective": "validation accuracy of the distilled student (the test split is never read)",
        "space": {key: list(dimension) for key, dimension in settings.space.items()},
        "trials_requested": settings.trials,
        "counts": {state: sum(1 for row in trials if row["state"] == state)
                   for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")},
        "best": {"trial": best.number, "value": best.value, "params": best.params},
        "recipe_values": recipe_values_trial(trials),
        "trials_to_best": trials_to_best(trials, best.value),
        "importances": importances,
        "importance_note": note,
        "trials": trials,
    }
    if importances:
        try:
            summary["importance_plot"] = plot_importances(importances, study_dir / IMPORTANCE_PLOT).name
        except KdistillError as error:  # no matplotlib
            summary["importance_note"] = str(error)
    atomic_write_text(study_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    atomic_write_text(study_dir / "summary.md", render_summary(summary))
    log.info("tune: best trial %d, val accuracy %.2f%%: %s -> %s", best.number, 100 * best.value, best.params,
             study_dir / BEST_RECIPE)
    return summary


def trial_row(trial: Any) -> dict[str, Any]:
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    row = {"trial": trial.number, "state": trial.state.name, "value": trial.value, "params": trial.params,
           "epochs": len(trial.intermediate_values), "seconds": seconds, "folder": trial.user_attrs.get("folder")}
    for key in ("error", "resumes", "interrupted", "recipe_values"):
        if key in trial.user_attrs:
            row[key] = trial.user_attrs[key]
    return row


def recipe_values_trial(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial that ran the recipe's own values (the first one), if it completed."""
    row = next((row for row in trials if row.get("recipe_values") and row["state"] == "COMPLETE"), None)
    return None if row is None else {"trial": row["trial"], "value": row["value"], "params": row["params"]}


def trials_to_best(trials: list[dict[str, Any]], best_value: float, tolerance: float = 1e-9) -> int:
    """How many trials (in start order) the study needed until one reached the best value."""
    for position, row in enumerate(sorted(trials, key=lambda row: row["trial"]), start=1):
        if row["state"] == "COMPLETE" and row["value"] >= best_value - tolerance:
            return position
    return len(trials)


def parameter_importances(study: Any, complete: list[Any]) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances (Optuna's, seeded), or None with the reason they cannot be estimated yet."""
    optuna = import_optuna()
    varied = [key for key in study.best_trial.params if len({t.params.get(key) for t in complete}) > 1]
    if len(complete) < 3 or not varied:
        return None, f"importances need >= 3 completed trials with varied values ({len(complete)} completed)"
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {key: float(value) for key, value in importances.items()}, (
        f"fANOVA over {len(complete)} completed trials: the share of the variance of validation accuracy each "
        "parameter explains")


def plot_importances(importances: dict[str, float], path: Path) -> Path:
    """A horizontal bar per parameter, the most important on top."""
    from kdistill.evaluation.plots import _new_figure, _save

    names = list(importances)[::-1]
    figure = _new_figure(figsize=(6.5, 1.2 + 0.45 * len(names)))
    axes = figure.subplots()
    axes.barh([name.rsplit(".", 1)[-1] for name in names], [importances[name] for name in names], color="C0")
    axes.set(title="Parameter importance (fANOVA)", xlabel="share of validation-accuracy variance", xlim=(0, 1))
    axes.grid(axis="x", alpha=0.3)
    return _save(figure, path)


def render_summary(summary: dict[str, Any]) -> str:
    best = summary["best"]
    counts = ", ".join(f"{count} {state.lower()}" for state, count in summary["counts"].items() if count)
    lines = [f"# Study of {summary['recipe']} ({summary['method']})", "",
             f"Objective: {summary['objective']}. Trials requested: {summary['trials_requested']}; {counts}.", "",
             (f"Best: trial {best['trial']}, validation accuracy {100 * best['value']:.2f}% "
              f"(reached after {summary['trials_to_best']} trial(s)); recipe: `{BEST_RECIPE}`"), ""]
    if summary["recipe_values"]:
        own = summary["recipe_values"]
        lines += [f"The recipe's own values (trial {own['trial']}): {100 * own['value']:.2f}%", ""]
    keys = list(summary["space"])
    lines.append("| trial | state | val acc % | epochs | s | " + " | ".join(k.rsplit(".", 1)[-1] for k in keys) + " |")
    lines.append("|---:|:---|---:|---:|---:|" + "---:|" * len(keys))
    for row in summary["trials"]:
        value = "-" if row["value"] is None else f"{100 * row['value']:.2f}"
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.0f}"
        params = " | ".join(format_value(row["params"].get(key)) for key in keys)
        lines.append(f"| {row['trial']} | {row['state'].lower()} | {value} | {row['epochs']} | {seconds} | {params} |")
    lines += ["", f"Importances: {summary['importance_note']}"]
    for key, value in (summary["importances"] or {}).items():
        lines.append(f"- {key}: {value:.3f}")
    return "\n".join(lines) + "\n"


def format_value(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
