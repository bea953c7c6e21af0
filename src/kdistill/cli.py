"""The ``kdistill`` command line. Each sub-command is a thin layer over the Python API.

Errors on bad input are one line (``kdistill: error: ...``) and exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kdistill.cli_parsers import (
    add_compare_command,
    add_data_commands,
    add_plugin_option,
    add_procedure_commands,
    add_tabular_commands,
    add_tune_command,
    tabular_available,
)
from kdistill.deploy.cli import add_export_command
from kdistill.errors import KdistillError
from kdistill.logs import LOG_DATE_FORMAT, LOG_FORMAT

log = logging.getLogger("kdistill")
DEBUG_ENV = "KDISTILL_DEBUG"

EPILOG_RUN = """examples:
  kdistill run                                  # the default 'quick' recipe on real MNIST (a short schedule)
  kdistill run hinton-mnist                     # the paper's setting (60 epochs per model)
  kdistill run hinton-mnist seed=1 teacher.train.epochs=30 distill.method_args.temperature=8
  kdistill run my_recipe.yaml --output-dir runs/exp1
  kdistill run --resume runs/quick-20261123-140000   # continue a killed run where it stopped
  kdistill run quick distill.cache.enabled=true  # serve the teacher from a disk cache (built once)
  kdistill run quick --nproc 2                  # 2 processes with DDP (or: torchrun ... -m kdistill run)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdistill",
        description="Knowledge distillation: train a teacher, a baseline student and a distilled student, and "
        "compare them on accuracy, size, FLOPs, latency, agreement and calibration.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run a recipe end to end (default: quick)", epilog=EPILOG_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train (or load) the teacher, train a student from scratch and a distilled student under "
        "identical conditions, evaluate all of them on the test set and write a report to the run directory.",
    )
    run.add_argument("recipe", nargs="?", default=None,
                     help="built-in recipe name (see `kdistill recipes`) or a path to a .yaml file; default: quick")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                     help="override recipe keys, e.g. teacher.train.epochs=5 (values are parsed as YAML)")
    run.add_argument("--output-dir", type=Path, default=Path("runs"),
                     help="folder that receives the new run directory (default: ./runs)")
    run.add_argument("--run-dir", type=Path, default=None, help="exact run directory to create or reuse")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", default=None,
                     help="continue an interrupted run: finished stages are skipped, the interrupted one "
                     "restarts from its last epoch checkpoint (the recipe is read from RUN_DIR/config.yaml)")
    run.add_argument("--nproc", type=int, default=1, metavar="N",
                     help="train in N processes with DistributedDataParallel (launches torchrun on this machine; "
                     "gloo on CPU, nccl on GPUs); train.batch_size stays the global batch size")
    run.add_argument("--track", action="append", choices=("tensorboard", "mlflow"), default=None,
                     help="also log every stage's metrics and the final table to TensorBoard (RUN_DIR/tensorboard) "
                     "and/or MLflow (file store RUN_DIR/mlruns); repeatable; needs the track extra")
    add_plugin_option(run)

    cache = commands.add_parser("cache", help="build a recipe's teacher cache ahead of training",
                                description="Teacher-output caches (see distill.cache in a recipe).")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cache_build = cache_commands.add_parser(
        "build", help="train/load the teacher and write its outputs for every (sample, view) to the cache",
        description="Train (or load) the recipe's teacher in the run directory and build its teacher cache "
        "(interruptible: rerun the same command to resume). Then `kdistill run --run-dir DIR RECIPE "
        "distill.cache.enabled=true` trains from it.")
    cache_build.add_argument("recipe", help="built-in recipe name or a path to a .yaml file")
    cache_build.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override recipe keys")
    cache_build.add_argument("--run-dir", type=Path, default=None,
                             help="run directory holding (or receiving) the teacher; default: a new one in ./runs")
    cache_build.add_argument("--nproc", type=int, default=1, metavar="N", help="build shards in N processes")
    add_plugin_option(cache_build)

    commands.add_parser("recipes", help="list the built-in recipes with one-line descriptions",
                        description="List the built-in recipes.")
    methods = commands.add_parser(
        "methods", help="list the distillation methods a recipe can select, or one method's arguments",
        description="List distillation methods (distill.method in a recipe); with NAME, the method's arguments "
        "(distill.method_args) with their types, allowed ranges and defaults, and what it needs.")
    methods.add_argument("name", nargs="?", default=None, help="a method name, e.g. hinton")
    add_plugin_option(methods)
    models = commands.add_parser(
        "models", help="list the model architectures a recipe can build, or one model's arguments",
        description="List model builders (teacher.model / student.model in a recipe); with NAME, its model_args.")
    models.add_argument("name", nargs="?", default=None, help="a model name, e.g. mlp")
    add_plugin_option(models)

    report = commands.add_parser("report", help="re-render a run's report (report.md, report.html, console table)",
                                 description="Re-render RUN_DIR/report.md from RUN_DIR/report.json and print it.")
    report.add_argument("run_dir", type=Path, help="a run directory written by `kdistill run`")

    profile = commands.add_parser(
        "profile", help="parameters, FLOPs and latency of a model or of a run's trained models",
        description="Profile a run directory's models (loading their trained weights), or a model built by name.",
        epilog="examples:\n  kdistill profile runs/quick-20261123-140000\n"
        "  kdistill profile --model mlp --input-shape 1,28,28 hidden=[1200,1200]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile.add_argument("run_dir", type=Path, nargs="?", default=None, help="a run directory")
    profile.add_argument("--model", default=None, help="a registered model name (see `kdistill models`)")
    profile.add_argument("model_args", nargs="*", metavar="KEY=VALUE", help="model arguments for --model")
    profile.add_argument("--input-shape", default="1,28,28", help="input shape without batch, e.g. 1,28,28")
    profile.add_argument("--num-classes", type=int, default=10)
    profile.add_argument("--weights", type=Path, default=None, help="safetensors weights to load into --model")
    profile.add_argument("--repeats", type=int, default=None,
                         help="timed measurements per batch size (default: the run's report.latency_repeats, or 30)")
    profile.add_argument("--threads", type=int, default=None,
                         help="torch threads while timing (default: the run's recipe `threads`, or 1)")
    profile.add_argument("--batch-sizes", default=None, metavar="N,N",
                         help="batch sizes to time (default: the run's report.latency_batch_sizes, or 1,256)")
    add_plugin_option(profile)

    predict = commands.add_parser(
        "predict", help="label new inputs with a run's trained student and write a CSV",
        description="Label INPUTS - an image or folder of images, an .npz, a .csv or .parquet table - with the "
        "student of RUN_DIR (the fine-tuned one if the run fine-tuned, else the distilled one) and write one CSV row "
        "per input: prediction, class name, confidence and every class probability.",
        epilog="example:\n  kdistill predict runs/quick-20261123-140000 new_digits/ --out labels.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("run_dir", type=Path, help="a run directory written by `kdistill run`")
    predict.add_argument("inputs", type=Path, help="image, folder of images, .npz, .csv or .parquet")
    predict.add_argument("--out", type=Path, default=None, help="CSV to write (default: RUN_DIR/predictions.csv)")
    predict.add_argument("--stage", choices=("teacher", "baseline", "distilled", "finetuned"), default=None,
                         help="which of the run's models labels the inputs (default: the final student)")
    predict.add_argument("--key", default=None, help=".npz inputs: the array to read (default: x)")
    add_plugin_option(predict)

    add_export_command(commands)
    add_tune_command(commands)
    add_compare_command(commands)
    add_data_commands(commands)
    add_procedure_commands(commands)
    if tabular_available():  # the tabular extra's packages are installed
        add_tabular_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. A KdistillError ends in one line and status 2; other exceptions are bugs and keep their traceback.

    ``--debug`` (or ``KDISTILL_DEBUG=1``, how ``--nproc`` passes it on to the torchrun processes) re-raises
    KdistillErrors with their traceback and turns on kdistill's debug logs.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV) == "1"
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT)
    # debug logs from kdistill only: a DEBUG root logger floods the console with matplotlib's font search
    log.setLevel(logging.DEBUG if debug else logging.NOTSET)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        from kdistill.commands import dispatch

        if args.command not in ("recipes", "report", "compare"):  # listings of names, runs: the user's components too
            from kdistill.plugins import load_plugins

            load_plugins(getattr(args, "plugins", None))
        with environment(DEBUG_ENV, "1" if debug else None):  # seen by the processes `--nproc N` starts
            return dispatch(args)
    except KdistillError as error:
        if debug:
            raise
        print(f"kdistill: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = "kdistill tune --resume STUDY_DIR" if args.command == "tune" else "kdistill run --resume RUN_DIR"
        print(f"kdistill: interrupted; continue with `{again}`", file=sys.stderr)
        return 130


@contextmanager
def environment(name: str, value: str | None) -> Iterator[None]:
    """Set (or, with None, leave unset) an environment variable for the block, then restore it."""
    previous = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


if __name__ == "__main__":
    sys.exit(main())
