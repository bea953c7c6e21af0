"""``kdistill run``: teacher -> baseline student -> distilled student (-> fine-tuned) -> report.

Every stage trains in its own sub-folder of the run directory and leaves ``done.json`` when finished, so a killed run
restarted with ``--resume`` skips finished stages and continues the interrupted one from its last epoch.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from torch import nn

from kdistill.config import Recipe
from kdistill.experiment.models import build_seeded, check_class_counts, load_teacher_weights
from kdistill.experiment.rundir import write_config
from kdistill.experiment.splits import ExperimentData, prepare_data
from kdistill.experiment.evaluate import build_report
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, TrainResult, train

log = logging.getLogger("kdistill")


def run_experiment(recipe: Recipe, run_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Run every stage of ``recipe`` in ``run_dir`` and return the report (also written there)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, recipe)
    log.info("run directory: %s", run_dir)
    data = prepare_data(recipe.data, recipe.seed)
    log.info("data: %s, %d train / %d val / %d test", recipe.data.dataset, len(data.train_labels),
             len(data.val_labels), len(data.test_labels))

    teacher, teacher_result = teacher_stage(recipe, data, run_dir, resume)
    student_seed = recipe.seed + 1  # baseline and distilled student share this initialisation
    baseline = build_seeded(recipe.student, data.input_shape, data.num_classes, student_seed)
    check_class_counts(teacher, baseline, data.input_shape)
    baseline_result = train_stage(baseline, build_strategy("supervised"), data, recipe.student.train,
                                  recipe.student.jitter, recipe, run_dir / "baseline", resume, "baseline")

    distilled = build_seeded(recipe.student, data.input_shape, data.num_classes, student_seed)
    context = {"student": distilled, "example_batch": next(iter(data.train_loader(2, 0, recipe.seed))),
               "num_samples": len(data.train_labels)}
    strategy = build_strategy(recipe.distill.method, teacher=FrozenTeacher(teacher), context=context,
                              **recipe.distill.method_args)
    distilled_result = train_stage(distilled, strategy, data, recipe.student.train, recipe.student.jitter,
                                   recipe, run_dir / "distilled", resume, "distilled")

    models: dict[str, nn.Module] = {"teacher": teacher, "baseline": baseline, "distilled": distilled}
    results: dict[str, TrainResult | None] = {
        "teacher": teacher_result, "baseline": baseline_result, "distilled": distilled_result,
    }
    if recipe.finetune.epochs > 0:
        finetune_config = dataclasses.replace(recipe.student.train, epochs=recipe.finetune.epochs,
                                              lr=recipe.finetune.lr, warmup_epochs=0.0)
        results["finetuned"] = train_stage(distilled, build_strategy("supervised"), data, finetune_config,
                                           recipe.student.jitter, recipe, run_dir / "finetuned", resume, "finetuned")
        models["finetuned"] = distilled
    return build_report(recipe, data, models, results, run_dir)


def teacher_stage(
    recipe: Recipe, data: ExperimentData, run_dir: Path, resume: bool
) -> tuple[nn.Module, TrainResult | None]:
    teacher = build_seeded(recipe.teacher, data.input_shape, data.num_classes, recipe.seed)
    if recipe.teacher.weights:
        load_teacher_weights(teacher, recipe.teacher.weights)
        log.info("teacher: loaded %s", recipe.teacher.weights)
        return teacher, None
    result = train_stage(teacher, build_strategy("supervised"), data, recipe.teacher.train, recipe.teacher.jitter,
                         recipe, run_dir / "teacher", resume, "teacher")
    return teacher, result


def train_stage(
    model: nn.Module,
    strategy: nn.Module,
    data: ExperimentData,
    config: TrainConfig,
    jitter: int,
    recipe: Recipe,
    stage_dir: Path,
    resume: bool,
    name: str,
) -> TrainResult:
    config = dataclasses.replace(config, seed=recipe.seed)
    train_batches = data.train_loader(config.batch_size, jitter, recipe.seed)
    val_batches = data.eval_loader("val", recipe.data.eval_batch_size)
    result = train(model, strategy, train_batches, val_batches, config, stage_dir, resume, desc=name)
    log.info("%s: best val accuracy %.2f%% at epoch %d (%.0fs)", name, 100 * result.best_val_accuracy,
             result.best_epoch, result.seconds)
    return result
