"""``kdistill run``: teacher -> baseline student -> distilled student (-> fine-tuned) -> report.

A method that takes no pre-trained teacher (``dml``, ``byot``: online and self-distillation) skips the teacher stage;
its report compares the distilled student with the same student trained alone.

Every stage trains in its own sub-folder of the run directory and leaves ``done.json`` when finished, so a killed run
restarted with ``--resume`` skips finished stages and continues the interrupted one from its last epoch.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdistill import distributed
from kdistill.config import ModelSection, Recipe
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import ConfigError
from kdistill.experiment.check import check_recipe, check_streamed_data, dry_run
from kdistill.experiment.evaluate import build_report
from kdistill.experiment.models import build_seeded, load_teacher_weights
from kdistill.experiment.rundir import claim_run_dir
from kdistill.experiment.pretrained_export import export_pretrained
from kdistill.experiment.splits import ExperimentData, prepare_data
from kdistill.experiment.student import write_model_description
from kdistill.features import count_extra_parameters
from kdistill.models import AveragedEnsemble
from kdistill.strategies import build_strategy, method_temperature, uses_teacher
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, TrainResult, train

log = logging.getLogger("kdistill")


def run_experiment(recipe: Recipe, run_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Run every stage of ``recipe`` in ``run_dir`` and return the report (also written there).

    Under torchrun every rank runs this; rank 0 alone writes files and the report (other ranks return ``{}``).
    Language-model data (a source with ``task = "language-model"``) runs :mod:`kdistill.lm.pipeline` instead.
    """
    from kdistill.lm.pipeline import is_language_model_data, run_language_model

    if is_language_model_data(recipe):
        return run_language_model(recipe, run_dir, resume)
    recipe, data = prepare_run(recipe, run_dir, resume)
    teacher, teacher_result = teacher_stage(recipe, data, run_dir, resume) if uses_teacher(recipe.distill.method) \
        else (None, None)
    student_seed = recipe.seed + 1  # baseline and distilled student share this initialisation
    baseline = build_seeded(recipe.student.model, recipe.student.model_args, data.input_shape, data.num_classes, student_seed)
    baseline_result = train_stage(baseline, build_strategy("supervised"), data, recipe.student.train,
                                  recipe.student, recipe, run_dir / "baseline", resume, "baseline")

    stage = distill_stage(recipe, data, teacher, run_dir, resume)
    distilled, strategy, distilled_result = stage.student, stage.strategy, stage.result
    distill_teacher, distill_batches, cache_info = stage.teacher, stage.batches, stage.cache_info

    models: dict[str, nn.Module] = {"teacher": teacher} if teacher is not None else {}
    models.update(baseline=baseline, distilled=distilled)
    results: dict[str, TrainResult | None] = {"teacher": teacher_result} if teacher is not None else {}
    results.update(baseline=baseline_result, distilled=distilled_result)
    if recipe.finetune.epochs > 0:
        # a copy: fine-tuning must not change the distilled student the report's "distilled" row measures
        finetuned = copy.deepcopy(distilled)
        finetune_config = dataclasses.replace(recipe.student.train, epochs=recipe.finetune.epochs,
                                              lr=recipe.finetune.lr, warmup_epochs=0.0)
        results["finetuned"] = train_stage(finetuned, build_strategy("supervised"), data, finetune_config,
                                           recipe.student, recipe, run_dir / "finetuned", resume, "finetuned")
        models["finetuned"] = finetuned
    for model in models.values():
        model.cpu()
    if not distributed.context().is_main:
        return {}
    export_pretrained(models, run_dir, recipe)  # Hugging Face models: also a from_pretrained folder per stage
    cost = None if teacher is None else teacher_cost(recipe, data, teacher, baseline, distill_teacher,
                                                     distill_batches, cache_info, distilled_result)
    extra = {"distilled": count_extra_parameters(strategy)}  # connectors etc.: trained, not exported
    return build_report(recipe, data, models, results, run_dir, teacher_cost=cost, extra_parameters=extra)


def prepare_run(recipe: Recipe, run_dir: Path, resume: bool) -> tuple[Recipe, ExperimentData]:
    """Everything before the first stage (shared by ``run`` and ``cache build``): pin the thread count, validate the
    whole recipe (names, arguments, one dry training step on real samples), then - only then - claim the run
    directory (refused if it holds stages trained with other settings) and write the resolved config. Returns the
    checked recipe and the data."""
    torch.set_num_threads(recipe.threads)  # the same numbers on any machine: results depend on the thread count
    recipe = check_recipe(recipe)
    data = prepare_data(recipe.data, recipe.seed)
    check_streamed_data(recipe, data)
    dry_run(recipe, data)
    claim_run_dir(run_dir, recipe, resume)  # checks the folder, then (rank 0) writes config.yaml + fingerprint.json
    if distributed.context().is_main:
        write_model_description(run_dir, recipe, data.input_shape, data.num_classes, data.class_names,
                                data.feature_names)
        log.info("run directory: %s", run_dir)
    log.info("data: %s, %d train / %d val / %d test; %d thread(s)", recipe.data.dataset, len(data.train_labels),
             len(data.val_labels), len(data.test_labels), recipe.threads)
    if not uses_teacher(recipe.distill.method):
        log.info("method %s takes no pre-trained teacher: no teacher stage", recipe.distill.method)
    return recipe, data


def build_teacher_cache(recipe: Recipe, run_dir: Path, resume: bool = True) -> dict[str, Any]:
    """``kdistill cache build``: the teacher stage, then the recipe's teacher cache; returns the cache summary."""
    from kdistill.cache.recipe import build_recipe_cache

    if not uses_teacher(recipe.distill.method):
        raise ConfigError(f"method '{recipe.distill.method}' takes no pre-trained teacher: there is no teacher "
                          "cache to build for it")
    recipe, data = prepare_run(recipe, run_dir, resume)
    teacher, _ = teacher_stage(recipe, data, run_dir, resume)
    cache, stats = build_recipe_cache(recipe, distillation_view(teacher, recipe), data.train_images,
                                      data.train_labels, run_dir, distributed.context())
    return {"folder": str(cache.folder), "views": cache.views, "format": cache.format, "bytes": cache.size_bytes(),
            "bytes_per_sample": cache.bytes_per_sample(), "build_seconds": stats.seconds,
            "built_shards": stats.built_shards, "reused_shards": stats.skipped_shards}


@dataclasses.dataclass
class DistillStage:
    """The distilled stage's student and result, with what it trained from (the report's teacher-cost probe)."""

    student: nn.Module
    strategy: nn.Module
    result: TrainResult
    teacher: nn.Module | None
    batches: Any
    cache_info: dict[str, Any] | None


def distill_stage(recipe: Recipe, data: ExperimentData, teacher: nn.Module | None, run_dir: Path, resume: bool,
                  on_epoch: Callable[[dict[str, Any]], None] | None = None) -> DistillStage:
    """Train (or, when finished, load) the distilled student in ``run_dir/distilled`` (``kdistill tune`` runs this
    stage alone per trial, with ``on_epoch`` checking for pruning)."""
    student_seed = recipe.seed + 1  # the baseline's initialisation
    distilled = build_seeded(recipe.student.model, recipe.student.model_args, data.input_shape, data.num_classes,
                             student_seed)
    distill_teacher, distill_batches, cache_info = distill_inputs(recipe, data, teacher, run_dir)
    # a cached teacher only answers for batches of its own views, so methods size their layers on one of those
    example_source = distill_batches if cache_info is not None else data.train_loader(2, 0, recipe.seed)
    context = {"student": distilled, "example_batch": next(iter(example_source)),
               "num_samples": len(data.train_labels)}
    strategy = build_strategy(recipe.distill.method, teacher=distill_teacher, context=context,
                              **recipe.distill.method_args)
    result = train_stage(distilled, strategy, data, recipe.student.train, recipe.student, recipe,
                         run_dir / "distilled", resume, "distilled", distill_batches, on_epoch=on_epoch)
    return DistillStage(distilled, strategy, result, distill_teacher, distill_batches, cache_info)


def distill_inputs(
    recipe: Recipe, data: ExperimentData, teacher: nn.Module | None, run_dir: Path
) -> tuple[nn.Module | None, Any, dict[str, Any] | None]:
    """(teacher for the strategy, training batches, cache summary): live teacher, or cached teacher + its views;
    no teacher for a teacher-free method."""
    ctx = distributed.context()
    if teacher is None:
        return None, train_loader(data, recipe.student.train.batch_size, recipe.student.jitter, recipe.seed,
                                  recipe.student.augment, recipe.student.warp), None
    teacher = distillation_view(teacher, recipe)
    if not recipe.distill.cache.enabled:
        return FrozenTeacher(teacher), train_loader(data, recipe.student.train.batch_size, recipe.student.jitter,
                                                    recipe.seed, recipe.student.augment, recipe.student.warp), None
    from kdistill.cache.recipe import build_recipe_cache, cached_training

    cache, stats = build_recipe_cache(recipe, teacher, data.train_images, data.train_labels, run_dir, ctx)
    cached_teacher, loader = cached_training(cache, data.train_images, data.train_labels,
                                             per_rank_batch_size(recipe.student.train.batch_size), recipe, ctx)
    info = {"cache_format": cache.format, "cache_views": cache.views, "cache_bytes": cache.size_bytes(),
            "cache_bytes_per_sample": cache.bytes_per_sample(), "cache_build_seconds": stats.seconds}
    return cached_teacher, loader, info


def teacher_cost(
    recipe: Recipe, data: ExperimentData, teacher: nn.Module, student: nn.Module, distill_teacher: nn.Module,
    distill_batches: Any, cache_info: dict[str, Any] | None, result: TrainResult,
) -> dict[str, Any]:
    """Teacher-cost profile for the report: the live and (if enabled) cached distillation step, side by side."""
    from kdistill.cache.profiling import teacher_cost_report

    def strategy_with(teacher_module: nn.Module, batches: Any) -> nn.Module:
        # sized on a batch of the loader it will see: a cached teacher only answers for its own stored views
        context = {"student": student, "example_batch": next(iter(batches)), "num_samples": len(data.train_labels)}
        return build_strategy(recipe.distill.method, teacher=teacher_module, context=context,
                              **recipe.distill.method_args)

    live_batches = data.train_loader(recipe.student.train.batch_size, recipe.student.jitter, recipe.seed,
                                     augment=recipe.student.augment, warp=recipe.student.warp)
    cached = (strategy_with(distill_teacher, distill_batches), distill_batches) if cache_info is not None else None
    live_teacher = FrozenTeacher(distillation_view(teacher, recipe))
    seconds = [record["seconds"] for record in result.history]
    return teacher_cost_report(
        teacher, student, data.example_inputs(1), len(live_batches),
        (strategy_with(live_teacher, live_batches), live_batches),
        recipe.student.train, cached, cache_info, sum(seconds) / len(seconds) if seconds else None,
    )


def per_rank_batch_size(batch_size: int) -> int:
    """``train.batch_size`` is the global batch: each of W ranks takes batch_size / W samples per step."""
    return max(1, batch_size // distributed.context().world_size)


def train_loader(data: ExperimentData, batch_size: int, jitter: int, seed: int,
                 augment: dict[str, Any] | None = None, warp: WarpOptions | None = None) -> Any:
    """This rank's shard of the training set (the whole set in a single process)."""
    ctx = distributed.context()
    return data.train_loader(per_rank_batch_size(batch_size), jitter, seed, ctx.rank, ctx.world_size, augment, warp)


def teacher_stage(
    recipe: Recipe, data: ExperimentData, run_dir: Path, resume: bool
) -> tuple[nn.Module, TrainResult | None]:
    """The trained (or loaded) teacher; with ``teacher.members`` > 1, an :class:`AveragedEnsemble` of networks each
    trained in its own stage folder (``teacher``, ``teacher-2``, ...) and the first member's training result."""
    if recipe.teacher.members > 1:
        members, results = [], []
        for index in range(recipe.teacher.members):
            seed = recipe.seed + index  # a different initialisation and batch order per member
            member = build_seeded(recipe.teacher.model, recipe.teacher.model_args, data.input_shape, data.num_classes, seed)
            results.append(train_stage(member, build_strategy("supervised"), data, recipe.teacher.train,
                                       recipe.teacher, recipe, run_dir / member_folder(index), resume,
                                       f"teacher {index + 1}/{recipe.teacher.members}", seed=seed))
            members.append(member)
        return AveragedEnsemble(members), results[0]
    teacher = build_seeded(recipe.teacher.model, recipe.teacher.model_args, data.input_shape, data.num_classes, recipe.seed)
    if recipe.teacher.weights:
        load_teacher_weights(teacher, recipe.teacher.weights)
        log.info("teacher: loaded %s", recipe.teacher.weights)
        return teacher, None
    result = train_stage(teacher, build_strategy("supervised"), data, recipe.teacher.train, recipe.teacher,
                         recipe, run_dir / "teacher", resume, "teacher")
    return teacher, result


def train_stage(
    model: nn.Module,
    strategy: nn.Module,
    data: ExperimentData,
    config: TrainConfig,
    section: ModelSection,
    recipe: Recipe,
    stage_dir: Path,
    resume: bool,
    name: str,
    train_batches: Any = None,
    seed: int | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    seed = recipe.seed if seed is None else seed
    config = dataclasses.replace(config, seed=seed)
    if train_batches is None:
        train_batches = train_loader(data, config.batch_size, section.jitter, seed, section.augment, section.warp)
    val_batches = data.eval_loader("val", recipe.data.eval_batch_size)
    result = train(model, strategy, train_batches, val_batches, config, stage_dir, resume, desc=name,
                   device=distributed.context().device, on_epoch=on_epoch)
    log.info("%s: best val accuracy %.2f%% at epoch %d (%.0fs)", name, 100 * result.best_val_accuracy,
             result.best_epoch, result.seconds)
    return result


def member_folder(index: int) -> str:
    """Stage folder of ensemble member ``index`` (0-based): the first one is the usual ``teacher``."""
    return "teacher" if index == 0 else f"teacher-{index + 1}"


def distillation_view(teacher: nn.Module, recipe: Recipe) -> nn.Module:
    """The teacher as the method sees it: an ensemble averages its members' probabilities at the method's
    temperature (so the loss at T sees exactly the mean tempered distribution); a single network is itself."""
    if isinstance(teacher, AveragedEnsemble):
        return teacher.at_temperature(method_temperature(recipe.distill.method, recipe.distill.method_args))
    return teacher
