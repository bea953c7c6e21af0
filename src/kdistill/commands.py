"""What each CLI sub-command does (argument parsing lives in ``cli.py``).

Heavy libraries (torch, ...) are imported inside the commands that use them, so listings like ``kdistill recipes``
start fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kdistill.atomic import DISK_FULL, disk_full_error
from kdistill.errors import ConfigError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("kdistill")


def dispatch(args: argparse.Namespace) -> int:
    handlers = {"run": run, "recipes": recipes, "methods": methods, "models": models, "report": report,
                "profile": profile, "cache": cache, "predict": predict}
    if args.command in handlers:
        return handlers[args.command](args)
    if args.command == "tune":
        from kdistill.tuning.cli import run_tune_command

        return run_tune_command(args)
    if args.command == "compare":
        from kdistill.evaluation.compare import run_compare_command

        return run_compare_command(args)
    if args.command == "data":
        from kdistill.data.cli import run_data_command

        return run_data_command(args)
    if args.command == "procedure" and args.procedure_command == "list":
        return procedure_list(args)
    if args.command == "procedure":
        from kdistill.procedures.cli import run_procedure_command

        return run_procedure_command(args)
    if args.command == "export":
        from kdistill.deploy.cli import run_export_command

        return run_export_command(args)
    if args.command == "tabular":
        from kdistill.tabular.cli import run_tabular_command

        return run_tabular_command(args)
    raise ConfigError(f"unknown command {args.command}")


def run(args: argparse.Namespace) -> int:
    from kdistill.config import DEFAULT_RECIPE, load_recipe
    from kdistill.evaluation import render_terminal_table
    from kdistill.experiment import new_run_dir, read_config, run_experiment

    overrides = list(args.overrides)
    recipe_name = args.recipe
    if recipe_name is not None and "=" in recipe_name:  # `kdistill run seed=1`: an override, not a recipe
        overrides.insert(0, recipe_name)
        recipe_name = None
    if args.resume is not None:
        if recipe_name or overrides:
            raise ConfigError("--resume reads the recipe from RUN_DIR/config.yaml; drop the recipe and overrides")
        recipe, run_dir = read_config(args.resume), args.resume
    else:
        recipe = load_recipe(recipe_name or DEFAULT_RECIPE, overrides)
        run_dir = args.run_dir or new_run_dir(recipe, args.output_dir)
    trackers = getattr(args, "track", None) or []
    if trackers:
        from kdistill.tracking import check_trackers

        check_trackers(trackers)  # a missing package is one line now, not after the run
    if args.nproc > 1:  # re-launch this command under torchrun, every process with the same run directory
        from kdistill.distributed import launch

        argv = ["run", "--run-dir", str(run_dir)] if args.resume is None else ["run", "--resume", str(run_dir)]
        argv += [part for name in trackers for part in ("--track", name)]
        return launch(args.nproc, argv + plugin_arguments(args) + ([recipe_name] if recipe_name else []) + overrides)
    from kdistill import distributed

    ctx = distributed.init_from_env()
    run_dir = distributed.broadcast_object(run_dir)  # its timestamped name must be rank 0's on every rank
    try:
        result = run_experiment(recipe, run_dir, resume=args.resume is not None or args.run_dir is not None)
    except OSError as error:  # a full disk anywhere in the run (metrics, plots, ...) is one line too
        if error.errno in DISK_FULL:
            raise disk_full_error(error, run_dir) from error
        raise
    finally:
        distributed.shutdown()
    if ctx.is_main:
        print(render_terminal_table(result))
        print(f"\nreport: {run_dir / 'report.md'}" + (f", {run_dir / 'report.html'}" if result.get("plots") else ""))
        if trackers:
            from kdistill.tracking import log_run

            for tracker, where in log_run(run_dir, trackers).items():
                print(f"{tracker}: {where}")
    return 0


def cache(args: argparse.Namespace) -> int:
    from kdistill import distributed
    from kdistill.config import load_recipe
    from kdistill.experiment import new_run_dir
    from kdistill.experiment.run import build_teacher_cache

    # the folder records the recipe that trains from this cache, so `run ... distill.cache.enabled=true` matches
    recipe = load_recipe(args.recipe, [*args.overrides, "distill.cache.enabled=true"])
    run_dir = args.run_dir or new_run_dir(recipe)
    if args.nproc > 1:
        from kdistill.distributed import launch

        return launch(args.nproc, ["cache", "build", args.recipe, *args.overrides, "--run-dir", str(run_dir),
                                   *plugin_arguments(args)])
    ctx = distributed.init_from_env()
    run_dir = distributed.broadcast_object(run_dir)
    try:
        summary = build_teacher_cache(recipe, run_dir)
    except OSError as error:
        if error.errno in DISK_FULL:
            raise disk_full_error(error, run_dir) from error
        raise
    finally:
        distributed.shutdown()
    if ctx.is_main:
        print(f"teacher cache {summary['folder']}: {summary['format']}, {summary['views']} view(s), "
              f"{summary['bytes'] / 1e6:.1f} MB ({summary['bytes_per_sample']:.0f} B/sample), "
              f"built {summary['built_shards']} shard(s), reused {summary['reused_shards']}, "
              f"{summary['build_seconds']:.1f}s")
        print(f"train from it: kdistill run --run-dir {run_dir} {args.recipe} {' '.join(args.overrides)} "
              "distill.cache.enabled=true")
    return 0


def predict(args: argparse.Namespace) -> int:
    from kdistill.experiment.predict import predict_inputs

    out = predict_inputs(args.run_dir, args.inputs, args.out, args.stage, args.key)
    print(f"predictions: {out}")
    return 0


def procedure_list(args: argparse.Namespace) -> int:
    """The registered procedures and the shipped specs, read from kdistill's files (no torch import)."""
    import importlib.util

    from kdistill.config.load import read_yaml
    from kdistill.listing import listed

    for name, description in listed("procedures").items():
        print(f"{name:15s} {description}")
    print()
    spec = importlib.util.find_spec("kdistill.procedures")
    folder = Path(next(iter(spec.submodule_search_locations))) / "specs"  # type: ignore[union-attr,arg-type]
    for path in sorted(folder.glob("*.yaml")):
        print(f"spec {path.stem:20s} {read_yaml(path).get('description', '')}")
    return 0


def plugin_arguments(args: argparse.Namespace) -> list[str]:
    """``--plugin FILE`` again for the processes ``--nproc`` starts: each must register the same components."""
    return [part for path in getattr(args, "plugins", None) or [] for part in ("--plugin", str(Path(path).resolve()))]


def recipes(args: argparse.Namespace) -> int:
    from kdistill.config import DEFAULT_RECIPE, recipe_descriptions

    for name, description in recipe_descriptions().items():
        marker = " (default)" if name == DEFAULT_RECIPE else ""
        print(f"{name:<20} {description}{marker}")
    return 0


def registered(kind: str, args: argparse.Namespace) -> dict[str, str]:
    """Names and descriptions to list: read from kdistill's files (no torch import) unless plugins add some."""
    from kdistill.listing import listed, needs_import

    module = "kdistill.strategies.spec" if kind == "methods" else "kdistill.models.registry"
    if not needs_import(getattr(args, "plugins", None), module):
        return listed(kind)
    if kind == "methods":
        from kdistill.strategies import STRATEGIES as registry
    else:
        from kdistill.models import MODELS as registry
    return registry.describe()


def methods(args: argparse.Namespace) -> int:
    if args.name is None:
        for name, description in registered("methods", args).items():
            print(f"{name:<20} {description}")
        return 0
    from kdistill.strategies import method_spec

    spec = method_spec(args.name)
    needs = [label for flag, label in ((spec.uses_teacher, "a pre-trained teacher"),
                                       (spec.reads_features, "intermediate features (one teacher network)"),
                                       (spec.needs_index, "sample ids (batch['index'])")) if flag]
    print(f"{spec.name}: {spec.summary}")
    print(f"needs: {', '.join(needs) or 'no teacher (online / self-distillation)'}")
    print("arguments (distill.method_args):")
    for argument in spec.arguments.values():
        print(f"  {argument.describe()}")
    if spec.search_space:
        print("search space: " + ", ".join(f"{name} {dimension}" for name, dimension in spec.search_space.items()))
    return 0


def models(args: argparse.Namespace) -> int:
    if args.name is None:
        for name, description in registered("models", args).items():
            print(f"{name:<20} {description}")
        return 0
    from kdistill.arguments import declared_arguments
    from kdistill.experiment.check import MODEL_CONTEXT
    from kdistill.models import MODELS

    builder = MODELS.get(args.name)
    print(f"{args.name}: {MODELS.describe()[args.name]}")
    print("arguments (model_args; input shape and class count come from the dataset):")
    for argument in declared_arguments(builder, skip=MODEL_CONTEXT).values():
        print(f"  {argument.describe()}")
    return 0


def report(args: argparse.Namespace) -> int:
    from kdistill.atomic import atomic_write_text
    from kdistill.evaluation import load_report, render_markdown, render_terminal_table

    loaded = load_report(args.run_dir)
    atomic_write_text(args.run_dir / "report.md", render_markdown(loaded))
    from kdistill.evaluation.html import write_html

    print(f"page: {write_html(args.run_dir, loaded)}")
    print(render_markdown(loaded))
    print(render_terminal_table(loaded))
    return 0


def profile(args: argparse.Namespace) -> int:

    from kdistill.config import parse_override
    from kdistill.evaluation import profile_model

    if args.model is not None and args.run_dir is not None:  # argparse gave the first KEY=VALUE to run_dir
        args.model_args, args.run_dir = [str(args.run_dir), *args.model_args], None
    threads, batch_sizes, repeats = 1, [1, 256], 30  # a model by name: one thread, like a recipe's default
    if args.run_dir is not None:
        from kdistill.experiment import read_config

        named = run_dir_models(args.run_dir)
        recipe = read_config(args.run_dir)  # measure as the run's report did: its threads, batch sizes, repeats
        threads, batch_sizes, repeats = recipe.threads, recipe.report.latency_batch_sizes, recipe.report.latency_repeats
    elif args.model is not None:
        from kdistill.experiment.models import load_teacher_weights
        from kdistill.models import build_model

        model_args = {}
        for text in args.model_args:
            keys, value = parse_override(text)
            model_args[".".join(keys)] = value
        shape = parse_shape(args.input_shape)
        model = build_model(args.model, shape, args.num_classes, **model_args)
        if args.weights is not None:
            load_teacher_weights(model, args.weights)
        named = {args.model: (model, shape)}
    else:
        raise ConfigError("profile needs a RUN_DIR or --model NAME (see `kdistill profile --help`)")
    threads = args.threads or threads
    batch_sizes = parse_batch_sizes(args.batch_sizes) if args.batch_sizes else batch_sizes
    repeats = args.repeats or repeats
    latency_headers = "".join(f" {f'lat b{size} ms (IQR)':>20}" for size in batch_sizes)
    print(f"{'model':<12} {'params':>12} {'MFLOPs/sample':>14}{latency_headers} {'size MB':>8}")
    for name, (model, shape) in named.items():
        row = profile_model(model, probe_inputs(shape), batch_sizes, repeats, threads=threads)
        latencies = "".join(f" {row['latency_ms'][str(size)]:>11.3f} ({row['latency_iqr_ms'][str(size)]:>6.3f})"
                            for size in batch_sizes)
        print(f"{name:<12} {row['params']:>12,} {row['flops_per_sample'] / 1e6:>14.3f}{latencies} "
              f"{row['size_bytes'] / 1e6:>8.2f}")
    print(f"latency: torch.utils.benchmark, median (interquartile range) of {repeats} measurements after 5 warm-up "
          f"passes, {threads} thread(s)")
    return 0


def parse_batch_sizes(text: str) -> list[int]:
    sizes = parse_shape(text)
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--batch-sizes must be positive integers like 1,256; got {text!r}")
    return list(sizes)


def probe_inputs(shape: tuple[int, ...] | dict[str, tuple[int, ...]]) -> torch.Tensor | dict[str, torch.Tensor]:
    """One sample to profile with: zeros, or for text models ``{input: ones}`` (token id 1 everywhere, every
    position a real token - the full length is what costs)."""
    import torch

    if isinstance(shape, dict):
        return {key: torch.ones(1, *size, dtype=torch.long) for key, size in shape.items()}
    return torch.zeros(1, *shape)


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise ConfigError(f"--input-shape must be comma-separated integers like 1,28,28; got {text!r}") from error
    return shape


def run_dir_models(run_dir: Path) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """Each finished stage's trained model, rebuilt from the run directory (see ``kdistill.load_student``)."""
    from kdistill.experiment.student import finished_stages, load_student, read_model_description

    stored = read_model_description(run_dir)["input_shape"]  # {input: shape} for multi-input (text) models
    shape = {key: tuple(value) for key, value in stored.items()} if isinstance(stored, dict) else tuple(stored)
    named = {stage: (load_student(run_dir, stage), shape) for stage in finished_stages(run_dir)}
    if not named:
        raise ConfigError(f"{run_dir} has no trained models yet (no */student.safetensors)")
    return named
