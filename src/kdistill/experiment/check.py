"""Validate a whole recipe before any file is written or any stage trains.

Two passes, both before the run directory exists:

1. :func:`check_recipe` (no data, milliseconds): every registered name (dataset, models, method), every model and
   method argument by name, type and range (from the builders' typed signatures and the method's spec), and the
   combinations that cannot work (a feature method with an ensemble teacher, a teacher cache for a teacher-free
   method, teacher weights that do not exist).
2. :func:`dry_run` (with the data, well under a second): untrained copies of the recipe's networks and its method
   run one training step on four real training samples, so inputs that do not fit a model, teacher/student class
   counts that differ, unknown layer names and the like fail now - not after an hour of teacher training.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from kdistill.arguments import validate_arguments
from kdistill.batch import Batch, forward_model
from kdistill.config import ModelSection, Recipe
from kdistill.errors import ConfigError, KdistillError, ShapeError
from kdistill.experiment.models import check_class_counts
from kdistill.experiment.sourcing import check_data_section
from kdistill.experiment.splits import ExperimentData
from kdistill.models import MODELS, build_model
from kdistill.strategies import build_strategy, method_spec
from kdistill.teachers import FrozenTeacher
from kdistill.training.faults import describe

MODEL_CONTEXT = ("input_shape", "num_classes")  # a model builder's arguments that come from the dataset
DRY_RUN_BATCH = 4  # > 1: batch norm in training mode needs two values per channel


def check_recipe(recipe: Recipe) -> Recipe:
    """Return ``recipe`` with model and method arguments checked and coerced; ConfigError on the first problem."""
    check_data_section(recipe.data)  # unknown dataset, source or path; the source's options
    spec = method_spec(recipe.distill.method)
    method_args = spec.validate(recipe.distill.method_args)
    sections = {"student": recipe.student}
    if spec.uses_teacher:
        sections["teacher"] = recipe.teacher
    checked = {name: check_model_section(section, name) for name, section in sections.items()}
    recipe = dataclasses.replace(
        recipe, student=checked["student"], teacher=checked.get("teacher", recipe.teacher),
        distill=dataclasses.replace(recipe.distill, method_args=method_args))
    check_teacher_fits_method(recipe)
    return recipe


def check_augment(section: ModelSection, where: str) -> None:
    """``augment`` options by name and type; jitter keeps its own key, mixing is not a recipe option (yet)."""
    from kdistill.sources import AugmentOptions, parse_options

    if "jitter" in section.augment:
        raise ConfigError(f"set {where}.jitter, not {where}.augment.jitter")
    options = parse_options(AugmentOptions, section.augment, f"{where}.augment")
    if options.mix != "none":
        raise ConfigError(f"{where}.augment.mix: mixup/cutmix batches need losses on mixed labels, which the "
                          "recipe pipeline does not have yet; use kdistill.sources.mix_batch from the Python API")


def check_model_section(section: ModelSection, where: str) -> ModelSection:
    check_augment(section, where)
    if section.warp.active and section.augment:
        raise ConfigError(f"{where}.warp works on the in-memory image loader, which has no augment options; drop "
                          f"{where}.augment or {where}.warp")
    builder = MODELS.get(section.model)
    model_args = validate_arguments(builder, section.model_args, f"{where}.model_args", skip=MODEL_CONTEXT,
                                    reserved_reason=" from the dataset (its input shape and class count)")
    if where == "teacher" and section.weights and not Path(section.weights).is_file():
        raise ConfigError(f"teacher.weights {section.weights} does not exist; point it at a .safetensors file "
                          "written by a previous run (e.g. RUN_DIR/teacher/student.safetensors)")
    return dataclasses.replace(section, model_args=model_args)


def check_teacher_fits_method(recipe: Recipe) -> None:
    """Refuse a feature method with an ensemble teacher (it has no single layer to tap), and a teacher cache for a
    method that uses no teacher (there is nothing to cache)."""
    spec = method_spec(recipe.distill.method)
    if recipe.distill.cache.enabled and recipe.student.warp.active:
        raise ConfigError("student.warp draws fresh warps every epoch, but a cached teacher answers only for its stored "
                          "views; move the warp to distill.cache.warp (the views are warped once, when the cache is "
                          "built) or set distill.cache.enabled: false")
    if recipe.distill.cache.enabled and recipe.student.augment:
        raise ConfigError("the teacher cache stores jitter views only; with student.augment (crop, flip) use a live "
                          "teacher: set distill.cache.enabled: false or drop student.augment")
    if not spec.uses_teacher and recipe.distill.cache.enabled:
        raise ConfigError(f"method '{spec.name}' takes no pre-trained teacher, so distill.cache has nothing to "
                          "store; set distill.cache.enabled: false (or pick a method that uses a teacher)")
    check_cache_values(recipe)
    if recipe.teacher.members > 1 and spec.reads_features:
        raise ConfigError(f"method '{spec.name}' reads one teacher network's intermediate layers, but "
                          f"teacher.members={recipe.teacher.members} makes an ensemble; use teacher.members=1, or a "
                          "logit method with the ensemble (hinton, dkd)")


def check_cache_values(recipe: Recipe) -> None:
    """``distill.cache.topk_values: int8`` quantises a language model's top-k sequence cache; nothing else has it."""
    cache = recipe.distill.cache
    if not cache.enabled or cache.topk_values == "fp16":
        return
    if cache.format != "topk":
        raise ConfigError(f"distill.cache.topk_values={cache.topk_values} quantises the stored top-k log-probs, but "
                          f"distill.cache.format={cache.format} stores every logit; set format: topk or topk_values: "
                          "fp16")
    from kdistill.lm.pipeline import is_language_model_data

    if not is_language_model_data(recipe):
        raise ConfigError(f"distill.cache.topk_values={cache.topk_values} is for language-model sequence caches; "
                          f"the classification cache of data '{recipe.data.dataset}' stores fp16 logits: set "
                          "topk_values: fp16")


def check_streamed_data(recipe: Recipe, data: ExperimentData) -> None:
    """What needs the training images in memory - the teacher cache, training warps - refused for a streamed source."""
    if not data.streaming:
        return
    if recipe.distill.cache.enabled:
        raise ConfigError(f"distill.cache stores teacher outputs for in-memory datasets; data.dataset "
                          f"{recipe.data.dataset} is streamed from disk - set distill.cache.enabled: false")
    warped = [name for name in ("teacher", "student") if getattr(recipe, name).warp.active]
    if warped:
        raise ConfigError(f"{warped[0]}.warp works on in-memory image datasets; data.dataset {recipe.data.dataset} "
                          f"is streamed from disk - drop {warped[0]}.warp (crop and flip: {warped[0]}.augment)")


def dry_run(recipe: Recipe, data: ExperimentData) -> None:
    """One training step of the recipe's method on untrained networks and four real samples (see module doc).

    Runs under a forked RNG, so the real run's random streams are untouched.
    """
    spec = method_spec(recipe.distill.method)
    batch = next(iter(data.train_loader(DRY_RUN_BATCH, recipe.student.jitter, recipe.seed)))
    with torch.random.fork_rng():
        student = build_for_dry_run(recipe.student, "student", data, batch)
        teacher = build_for_dry_run(recipe.teacher, "teacher", data, batch) if spec.uses_teacher else None
        if teacher is not None:
            check_class_counts(teacher, student, batch)
            check_cached_layers(recipe, teacher)
        frozen = FrozenTeacher(teacher) if teacher is not None else None
        context = {"student": student, "example_batch": batch, "num_samples": len(data.train_labels)}
        try:
            strategy = build_strategy(spec.name, teacher=frozen, context=context, **recipe.distill.method_args)
            strategy.train()
            student.train()
            strategy(batch, student)["loss"].backward()
        except KdistillError:
            raise
        except (RuntimeError, ValueError, IndexError, KeyError, TypeError) as error:
            raise ShapeError(f"method '{spec.name}' cannot train student.model={recipe.student.model} on "
                             f"{recipe.data.dataset} inputs {describe(batch['inputs'])}: "
                             f"{first_line(error)}; check distill.method_args and the models") from error


def build_for_dry_run(section: ModelSection, where: str, data: ExperimentData, batch: Batch) -> torch.nn.Module:
    """The section's model, untrained, after one eval-mode forward pass on the dry run's real ``batch``."""
    try:
        model = build_model(section.model, data.input_shape, data.num_classes, **section.model_args)
    except KdistillError:
        raise
    except (RuntimeError, ValueError, TypeError) as error:
        raise ConfigError(f"{where}.model={section.model} cannot be built for {data.input_shape} inputs with "
                          f"{data.num_classes} classes: {first_line(error)}") from error
    try:
        with torch.no_grad():
            forward_model(model.eval(), batch)
    except (RuntimeError, ValueError, IndexError) as error:
        raise ShapeError(f"{where}.model={section.model} cannot take this dataset's inputs "
                         f"{describe(batch['inputs'])}: {first_line(error)}; pick a model for these inputs or "
                         f"change {where}.model_args") from error
    return model


def check_cached_layers(recipe: Recipe, teacher: torch.nn.Module) -> None:
    """The teacher layers a cache is asked to store must exist in the teacher network."""
    names = dict(teacher.named_modules())
    missing = [name for name in recipe.distill.cache.features if name not in names]
    if recipe.distill.cache.enabled and missing:
        candidates = [name for name in names if name and "." not in name]
        raise ConfigError(f"distill.cache.features names {missing[0]!r}, which is not a module of "
                          f"teacher.model={recipe.teacher.model}; top-level modules: {', '.join(candidates)}")


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
