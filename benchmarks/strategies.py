"""The classic distillation-strategy experiments on real data, beside the papers' figures.

    python benchmarks/strategies.py                          # all 12 experiments x seeds 0 1 2 (hours on 2 cores)
    python benchmarks/strategies.py --experiments omitted-class limited-data --seeds 0
    python benchmarks/strategies.py --smoke --out /tmp/strategies-smoke     # minutes: tiny data, 1 epoch

Experiments: ensemble, ensemble-converged, ensemble-consistent (Hinton et al. 2015's ensemble claim), dml,
dml-converged (Zhang et al. 2018), born-again, born-again-labels, born-again-converged (Furlanello et al. 2018), byot
(Zhang et al. 2019), specialist (Wang et al. 2022), omitted-class and limited-data (Hinton et al. 2015). Each runs one
shipped procedure spec (``SPECS`` below) and nothing else; what it trains is that spec's description and arguments,
printed by ``--help`` (and ``kdistill procedure list``) rather than repeated here, so this text cannot drift from
them. ``--epochs`` overrides every training's epochs. The three MNIST experiments share one teacher per seed (the
784-1200-1200-10 MLP their specs name), saved under ``<out>/runs/`` and reused on rerun. Each finished (experiment,
seed) cell is written to ``<out>/strategies.json`` at once and skipped on rerun; ``<out>/strategies.md`` holds the
tables.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, record_cell, save_results  # noqa: E402
from strategies_report import render  # noqa: E402

from kdistill.atomic import atomic_write_text  # noqa: E402
from kdistill.procedures import load_splits, run_procedure  # noqa: E402
from kdistill.procedures.common import build_seeded_model, fit_model  # noqa: E402
from kdistill.procedures.spec import load_spec  # noqa: E402
from kdistill.training.checkpoint import load_weights, save_weights  # noqa: E402

EXPERIMENTS = ("ensemble", "ensemble-converged", "ensemble-consistent", "dml", "dml-converged", "born-again",
               "born-again-labels", "born-again-converged", "byot", "specialist", "omitted-class", "limited-data")
# each experiment's settings are a shipped procedure spec (kdistill/procedures/specs), so the benchmark and
# `kdistill procedure run SPEC` train exactly the same models
SPECS = {"ensemble": "ensemble-fashion", "dml": "dml-fashion", "born-again": "born-again-fashion",
         "born-again-labels": "born-again-labels-fashion", "born-again-converged": "born-again-converged-fashion",
         "ensemble-converged": "ensemble-converged-fashion", "ensemble-consistent": "ensemble-consistent-fashion",
         "dml-converged": "dml-converged-fashion",
         "byot": "byot-fashion", "specialist": "specialist-mnist", "omitted-class": "omitted-class-mnist",
         "limited-data": "limited-data-mnist"}
FULL_TRAIN_SIZE = 55_000  # 60,000 training images minus the 5,000 validation images


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers depend on; a results file only ever holds cells of one setting."""
    if args.smoke:
        return {"smoke": True, "epochs": args.epochs or 1, "train_limit": args.train_limit or 1000,
                "val_size": 500, "test_limit": 1000}
    return {"smoke": False, "epochs": args.epochs, "train_limit": args.train_limit, "val_size": 5000,
            "test_limit": None}


def spec_arguments(name: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(dataset, procedure arguments) from the experiment's spec, with ``--epochs`` applied to every training; the
    procedure is the spec's (an experiment may be a variant of another, e.g. born-again-labels)."""
    spec = load_spec(SPECS[name])
    arguments = dict(spec["args"])
    for key in ("train", "teacher_train", "distill_train"):
        if key in arguments and config["epochs"]:
            arguments[key] = {**arguments[key], "epochs": config["epochs"]}
    return spec["data"]["dataset"], arguments


def full_epochs(name: str, key: str = "train") -> int:
    return int(load_spec(SPECS[name])["args"][key]["epochs"])


def shared_teacher(seed: int, splits, arguments: dict[str, Any], runs_dir: Path) -> tuple[torch.nn.Module, float]:
    """(the MNIST teacher of this seed, shared by the MNIST experiments: trained once, saved, then loaded; seconds
    spent training it). The MNIST specs name the same teacher; the procedures would train it the same way."""
    teacher_seed = 1000 * seed + 7  # the seed the procedures use for their own teacher
    teacher = build_seeded_model(arguments["teacher_model"], splits.input_shape, splits.num_classes, teacher_seed)
    path = runs_dir / f"mnist-teacher-seed{seed}.safetensors"
    if path.exists():
        teacher.load_state_dict(load_weights(path))
        return teacher, 0.0
    started = time.perf_counter()
    fit_model(teacher, splits.train_images, splits.train_labels, splits, arguments["teacher_train"], teacher_seed,
              max_shift=arguments.get("teacher_jitter", 0))
    save_weights(path, teacher.state_dict())
    return teacher, time.perf_counter() - started


def run_cell(name: str, seed: int, config: dict[str, Any], runs_dir: Path) -> dict[str, Any]:
    dataset, arguments = spec_arguments(name, config)
    train_limit = config["train_limit"] or load_spec(SPECS[name])["data"].get("train_limit")  # --train-limit wins
    splits = load_splits(dataset, config["val_size"], seed, train_limit, config["test_limit"])
    teacher_seconds, teacher_epochs = 0.0, 1
    if "teacher_model" in arguments:
        arguments["teacher"], teacher_seconds = shared_teacher(seed, splits, arguments, runs_dir)
        teacher_epochs = arguments["teacher_train"]["epochs"]
    started = time.perf_counter()
    result = run_procedure(load_spec(SPECS[name])["procedure"], splits, seed=seed, **arguments)
    return {**result, "dataset": dataset, "train_size": len(splits.train_labels),
            "epochs": arguments["train"]["epochs"],
            "distill_epochs": arguments.get("distill_train", arguments["train"])["epochs"],
            "procedure_seconds": time.perf_counter() - started, "teacher_seconds": teacher_seconds,
            "teacher_epochs": teacher_epochs}


def estimate_full_seconds(results: dict[str, Any]) -> float:
    """Scale each smoke cell's training time by (full train size x full epochs) / (its train size x its epochs); the
    models are the same as in the full run, so the time per sample-epoch carries over. Data loading is left out;
    the smoke run's evaluation passes are scaled too, so this errs high when the smoke run is very small."""
    total = 0.0
    for cell in results["cells"].values():
        data_scale = FULL_TRAIN_SIZE / cell["train_size"]
        own_seconds = cell["procedure_seconds"]
        total += own_seconds * data_scale * full_epochs(cell["experiment"]) / cell["epochs"]
        if cell["teacher_seconds"]:
            teacher_scale = full_epochs(cell["experiment"], "teacher_train") / cell["teacher_epochs"]
            total += cell["teacher_seconds"] * data_scale * teacher_scale
    return total


def experiments_help() -> str:
    """Each experiment with the spec it runs and that spec's own description."""
    return "experiments:\n" + "\n".join(f"  {name} (spec {SPECS[name]}): {load_spec(SPECS[name])['description']}"
                                         for name in EXPERIMENTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=experiments_help(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch: checks the pipeline end to end")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (smoke: 0)")
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    parser.add_argument("--epochs", type=int, default=None, help="override every training's epochs")
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training images")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for strategies.{json,md} and runs/")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(1)
    seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])
    config = settings(args)
    json_path, runs_dir = args.out / "strategies.json", args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    results = load_results(json_path)
    if results.get("settings", config) != config:
        raise SystemExit(f"{json_path} holds results for settings {results['settings']}; pass the same options or "
                         "use --out to write elsewhere")
    results.update(settings=config)
    for name in args.experiments:
        for seed in seeds:
            key = f"{name}/seed{seed}"
            if key in results["cells"]:
                logging.info("%s already finished: skipping", key)
                continue
            started = time.perf_counter()
            cell = run_cell(name, seed, config, runs_dir)
            record_cell(results, key, {**cell, "experiment": name, "seed": seed,
                                       "seconds": time.perf_counter() - started}, seed)
            save_results(json_path, results)
            atomic_write_text(json_path.with_suffix(".md"), render(results))
            logging.info("%s finished in %.0fs", key, results["cells"][key]["seconds"])
    if config["smoke"]:
        results["estimated_full_seconds_per_seed"] = estimate_full_seconds(results) / len(seeds)
        save_results(json_path, results)
    atomic_write_text(json_path.with_suffix(".md"), render(results))
    print(json_path.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
