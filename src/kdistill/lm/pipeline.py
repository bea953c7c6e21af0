"""``kdistill run`` for language models: pretrained teacher -> [sequence cache] -> baseline -> distilled -> report.

    kdistill run lm-news                 # SmolLM2-135M -> a 4-layer, 256-wide Llama on news articles
    kdistill run lm-news --nproc 2       # the same under DDP

The classification pipeline (``kdistill.experiment.run``) trains its teacher and reports accuracy and calibration over
classes; a language model's teacher is pretrained, its outputs are (B, T, V) next-token logits, and its report is
held-out perplexity. Everything else is shared: the recipe schema and its validation (``check_recipe``, ``dry_run``),
the data splits (``prepare_data`` over the ``lm-text`` source), the run folder and its stage reuse, the one training
loop (``train_stage``), the method spec (``lm-distill``) and the ``save_pretrained`` export.

Stages: the teacher is built (pretrained weights, or ``teacher.weights``) and never trained; ``baseline`` trains the
student on next-token cross-entropy alone (the method ``supervised``); ``distilled`` trains the same initialisation
with the recipe's method, reading the teacher live or (``distill.cache.enabled``) from a top-k sequence cache built
once over the training blocks. The report gives each model's test perplexity, token KL to the teacher, training
tokens/s, peak RSS and the teacher's share of a distillation step.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdistill import distributed
from kdistill.config import Recipe, to_dict
from kdistill.errors import ConfigError
from kdistill.evaluation import write_report
from kdistill.experiment.check import check_recipe, dry_run
from kdistill.experiment.evaluate import environment
from kdistill.experiment.models import build_seeded, load_teacher_weights
from kdistill.experiment.pretrained_export import export_pretrained
from kdistill.experiment.run import train_loader, train_stage
from kdistill.experiment.rundir import claim_run_dir
from kdistill.experiment.splits import ExperimentData, prepare_data
from kdistill.experiment.student import write_language_model_description
from kdistill.lm.evaluate import language_model_metrics, peak_rss_bytes, teacher_share
from kdistill.strategies import build_strategy, uses_teacher
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainResult

log = logging.getLogger("kdistill")


def is_language_model_data(recipe: Recipe) -> bool:
    """Whether the recipe's data source trains language models (its class declares ``task = "language-model"``)."""
    from kdistill.experiment.sourcing import source_spec
    from kdistill.sources import DATA_SOURCES

    spec = source_spec(recipe.data)
    return spec is not None and getattr(DATA_SOURCES.get(spec[0]), "task", None) == "language-model"


def run_language_model(recipe: Recipe, run_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Every stage of a language-model recipe in ``run_dir`` (see the module docstring); the report (rank 0)."""
    torch.set_num_threads(recipe.threads)
    recipe = check_recipe(recipe)
    if not uses_teacher(recipe.distill.method):
        raise ConfigError(f"method '{recipe.distill.method}' takes no teacher; language-model recipes distil from a "
                          "pretrained teacher (method: lm-distill)")
    data = prepare_data(recipe.data, recipe.seed)
    dry_run(recipe, data)
    check_teacher_tokenizer(recipe, data.num_classes)
    if recipe.distill.cache.enabled:  # the method meets a cache only after the cache build: check it fits now
        from kdistill.lm.cached_teacher import PendingCache

        build_strategy(recipe.distill.method, teacher=PendingCache(top_k=recipe.distill.cache.format == "topk"),
                       **recipe.distill.method_args)
    claim_run_dir(run_dir, recipe, resume)
    if distributed.context().is_main:
        write_language_model_description(run_dir, recipe)  # load_student reads it; predict/profile refuse clearly
    teacher = build_seeded(recipe.teacher.model, recipe.teacher.model_args, data.input_shape, data.num_classes,
                           recipe.seed)
    if recipe.teacher.weights:
        load_teacher_weights(teacher, recipe.teacher.weights)
    student_seed = recipe.seed + 1  # baseline and distilled student share this initialisation
    baseline = build_seeded(recipe.student.model, recipe.student.model_args, data.input_shape, data.num_classes,
                            student_seed)
    results: dict[str, TrainResult | None] = {"teacher": None}
    results["baseline"] = train_stage(baseline, build_strategy("supervised"), data, recipe.student.train,
                                      recipe.student, recipe, run_dir / "baseline", resume, "baseline")
    distilled = build_seeded(recipe.student.model, recipe.student.model_args, data.input_shape, data.num_classes,
                             student_seed)
    distill_teacher, batches, cache_info = distill_inputs(recipe, data, teacher, run_dir)
    strategy = build_strategy(recipe.distill.method, teacher=distill_teacher, context={"student": distilled},
                              **recipe.distill.method_args)
    results["distilled"] = train_stage(distilled, strategy, data, recipe.student.train, recipe.student, recipe,
                                       run_dir / "distilled", resume, "distilled", batches)
    models = {"teacher": teacher, "baseline": baseline, "distilled": distilled}
    for model in models.values():
        model.cpu()
    if not distributed.context().is_main:
        return {}
    export_pretrained({"baseline": baseline, "distilled": distilled}, run_dir, recipe)
    share = teacher_share(strategy, distill_teacher, distilled, next(iter(batches)))
    return language_model_report(recipe, data, models, results, run_dir, share, cache_info)


def check_teacher_tokenizer(recipe: Recipe, data_vocab_size: int) -> None:
    """A pretrained teacher ships its own tokenizer: the data (and so the student) must be tokenised with the same
    vocabulary, checked token by token up front (``kdistill.lm.vocabulary``) - equal sizes alone would let a
    different tokenizer through."""
    from kdistill.data.pretrained import PRETRAINED, pretrained_folder
    from kdistill.experiment.pretrained_export import tokenizer_source
    from kdistill.lm.vocabulary import check_vocabularies
    from kdistill.text import load_tokenizer

    data_tokenizer = tokenizer_source(recipe)
    if recipe.teacher.model not in PRETRAINED or data_tokenizer is None:
        return  # a teacher built in code has no tokenizer of its own
    teacher_tokenizer = load_tokenizer(pretrained_folder(recipe.teacher.model))
    check_vocabularies(teacher_tokenizer, load_tokenizer(data_tokenizer), student_vocab_size=data_vocab_size)


def distill_inputs(recipe: Recipe, data: ExperimentData, teacher: nn.Module,
                   run_dir: Path) -> tuple[nn.Module, Any, dict[str, Any] | None]:
    """(teacher for the method, this rank's training batches, cache summary): live, or read from the sequence cache
    (built once over the training blocks in ``distill.cache.dir`` or RUN_DIR/teacher-cache)."""
    loader = train_loader(data, recipe.student.train.batch_size, 0, recipe.seed)
    if not recipe.distill.cache.enabled:
        return FrozenTeacher(teacher), loader, None
    from kdistill.lm.cached_teacher import sequence_cache_teacher

    cached, info = sequence_cache_teacher(recipe, data, teacher, run_dir)
    return cached, loader, info


def language_model_report(recipe: Recipe, data: ExperimentData, models: dict[str, nn.Module],
                          results: dict[str, TrainResult | None], run_dir: Path, share: dict[str, float],
                          cache_info: dict[str, Any] | None) -> dict[str, Any]:
    test_batches = data.eval_loader("test", recipe.data.eval_batch_size)
    rows = language_model_metrics(models, test_batches)
    block = int(data.input_shape["input_ids"][0])
    train_tokens = len(data.train_labels) * block  # per epoch
    for name, model in models.items():
        row = rows[name]
        row["params"] = sum(parameter.numel() for parameter in model.parameters())
        result = results.get(name)
        if result is not None and result.history:
            row["train_seconds"] = result.seconds
            row["train_tokens_per_second"] = train_tokens * len(result.history) / result.seconds
            row["best_epoch"] = result.best_epoch
    notes = [f"{name}: test perplexity {row['perplexity']:.2f} (NLL {row['nll']:.4f} nats/token over "
             f"{row['tokens']} tokens)" + (f", KL(teacher ‖ {name}) {row['kl_to_teacher']:.4f} nats/token"
                                           if "kl_to_teacher" in row else "")
             + (f", training {row['train_tokens_per_second']:.0f} tokens/s" if "train_tokens_per_second" in row
                else "") for name, row in rows.items()]
    notes.append(f"distillation step {share['step_seconds']:.3f} s, of which the teacher's answer "
                 f"{share['teacher_seconds']:.3f} s ({100 * share['teacher_share']:.1f}%); median of "
                 f"{share['repeats']} interleaved repeats; peak RSS {peak_rss_bytes() / 1e9:.2f} GB")
    report = {"title": f"kdistill run: {recipe.name}", "recipe": recipe.name, "task": "language-model",
              "config": to_dict(recipe), "environment": environment(), "models": rows, "notes": notes,
              "teacher_cost": {**share, "peak_rss_bytes": peak_rss_bytes(), **(cache_info or {})},
              "histories": {name: result.history for name, result in results.items() if result is not None}}
    write_report(run_dir, report)
    return report
