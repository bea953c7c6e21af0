"""The comparison every KD paper prints: teacher vs student-from-scratch vs distilled student, on the test set."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdistill.config import Recipe, to_dict
from kdistill.errors import KdistillError
from kdistill.evaluation import (
    classification_metrics,
    plot_confusion,
    plot_reliability,
    plot_training_curves,
    predict_logits,
    profile_model,
    write_report,
)
from kdistill.evaluation.figure_data import figure_data
from kdistill.evaluation.html import write_html
from kdistill.experiment.splits import ExperimentData
from kdistill.strategies import method_temperature
from kdistill.training import TrainResult

log = logging.getLogger("kdistill")


def build_report(
    recipe: Recipe,
    data: ExperimentData,
    models: dict[str, nn.Module],
    results: dict[str, TrainResult | None],
    run_dir: Path,
    teacher_cost: dict[str, Any] | None = None,
    extra_parameters: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Evaluate every model on the test set, profile it, write report.{md,json} and plots; return the report.

    ``teacher_cost`` (see ``kdistill.cache.profiling``) is stored as ``report["teacher_cost"]`` with a summary note.
    ``extra_parameters``: per model, parameters trained alongside it but not exported (a method's connectors).
    """
    test_batches = data.eval_loader("test", recipe.data.eval_batch_size)
    log.info("evaluation: %s on %d test samples, then latency at batch sizes %s", ", ".join(models),
             len(data.test_labels), recipe.report.latency_batch_sizes)
    logits = {name: predict_logits(model, test_batches, desc=f"test {name}", progress=True)[0]
              for name, model in models.items()}
    example = data.example_inputs(1)  # (1, C, H, W)
    rows: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        teacher_logits = logits.get("teacher") if name != "teacher" else None
        row = classification_metrics(logits[name], data.test_labels, teacher_logits)
        row.update(profile_model(model, example, recipe.report.latency_batch_sizes, recipe.report.latency_repeats,
                                 desc=f"latency {name}", progress=True, threads=recipe.threads))
        log.info("evaluation: %s", summary_line(name, row))
        result = results.get(name)
        row["train_seconds"] = result.seconds if result is not None else None
        row["extra_training_parameters"] = (extra_parameters or {}).get(name, 0)
        row["best_epoch"] = result.best_epoch if result is not None else None
        rows[name] = row
    report: dict[str, Any] = {
        "title": f"kdistill run: {recipe.name}",
        "recipe": recipe.name,
        "config": to_dict(recipe),
        "environment": environment(),
        "models": rows,
        "notes": [
            f"dataset {recipe.data.dataset}: {len(data.train_labels)} train, {len(data.val_labels)} validation "
            f"(carved from train, used for selection), {len(data.test_labels)} test (used only here)",
            f"distillation method {recipe.distill.method} {recipe.distill.method_args}",
            f"latency: torch.utils.benchmark, median and interquartile range of {recipe.report.latency_repeats} "
            f"measurements after 5 warm-up passes, {recipe.threads} thread(s) (`kdistill profile RUN_DIR` measures "
            "the same way with the same threads)",
        ],
    }
    if "teacher" not in models:
        report["notes"].append(f"method {recipe.distill.method} takes no pre-trained teacher (online or "
                               "self-distillation): no teacher was trained, and the distilled student is compared "
                               "with the same student trained alone")
    elif recipe.teacher.members > 1:
        report["notes"].append(
            f"teacher = an ensemble of {recipe.teacher.members} {recipe.teacher.model} networks (seeds {recipe.seed}.."
            f"{recipe.seed + recipe.teacher.members - 1}), mean of their probabilities; its params, FLOPs and "
            "latency are the sum over members")
    if teacher_cost is not None:
        from kdistill.cache.profiling import describe

        report["teacher_cost"] = teacher_cost
        report["notes"].append(describe(teacher_cost))
    if recipe.report.reference_errors:
        report["reference"] = {
            name: {"errors": errors, "source": recipe.report.reference_source}
            for name, errors in recipe.report.reference_errors.items()
        }
    report["histories"] = {name: result.history for name, result in results.items() if result is not None}
    temperature = method_temperature(recipe.distill.method, recipe.distill.method_args) if "teacher" in models else None
    report["figures"] = figure_data(logits, data.test_labels, data.class_names, temperature)
    if recipe.report.plots:
        log.info("evaluation: plotting curves, reliability and confusion")
        report["plots"] = write_plots(run_dir, data, models, logits, results)
    write_report(run_dir, report)
    if recipe.report.plots:
        write_html(run_dir, report)  # after report.json: `kdistill report RUN_DIR` renders the same page from it
    return report


def environment() -> dict[str, Any]:
    """What the numbers depend on beyond the recipe: versions, threads, machine."""
    import os
    import platform

    return {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "system": platform.system()}


def summary_line(name: str, row: dict[str, Any]) -> str:
    latency = ", ".join(f"{ms:.2f} ms at batch {size}" for size, ms in row["latency_ms"].items())
    return (f"{name} test accuracy {100 * row['accuracy']:.2f}% ({row['errors']} errors), {row['params']:,} params, "
            f"latency {latency}")


def write_plots(
    run_dir: Path,
    data: ExperimentData,
    models: dict[str, nn.Module],
    logits: dict[str, torch.Tensor],
    results: dict[str, TrainResult | None],
) -> list[str]:
    """Training curves, reliability diagram, teacher-vs-student confusion. Skipped (with a warning) without matplotlib."""
    histories = {name: result.history for name, result in results.items() if result is not None}
    student_name = "finetuned" if "finetuned" in models else "distilled"
    reference = "teacher" if "teacher" in models else "baseline"  # a teacher-free method: the student trained alone
    try:
        paths = [
            plot_training_curves(histories, run_dir / "curves.png"),
            plot_reliability({name: (values.softmax(-1), data.test_labels) for name, values in logits.items()},
                             run_dir / "reliability.png"),
            plot_confusion(logits[reference].argmax(-1), logits[student_name].argmax(-1), data.test_labels,
                           data.num_classes, run_dir / "confusion.png", class_names=data.class_names,
                           reference_name="student alone" if reference == "baseline" else reference),
        ]
    except KdistillError as error:
        log.warning("plots skipped: %s", error)
        return []
    return [path.name for path in paths]
