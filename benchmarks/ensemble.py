"""Hinton et al. 2015's ensemble claim on our data: does one distilled student recover most of an ensemble's gain?

    python benchmarks/ensemble.py                                   # every setting x seeds 0 1 2
    python benchmarks/ensemble.py --settings diverse --seeds 0
    python benchmarks/ensemble.py --pilot --settings diverse --set args.temperature=2   # validation only

Each setting is a shipped procedure spec (``kdistill procedure show SPEC``) run by the ``ensemble`` procedure: the
members, their ensemble, a student of one member's architecture distilled from it, and that student trained from
labels alone on the student's schedule. Members and students are trained and selected on training data only (the
validation set is carved from the training set); each model meets the test set once.

``--pilot`` runs the same cells with the validation split standing in for the test split (the test set is never
read), on seed 100 unless ``--seeds`` says otherwise, into ``ensemble_pilot.{json,md}``: settings are chosen there,
then run on seeds 0 1 2 into ``ensemble.{json,md}``. Each finished (setting, overrides, seed) cell is written at once
and skipped on rerun.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, machine, record_cell, save_results
from ensemble_report import render

from kdistill.atomic import atomic_write_text
from kdistill.procedures import load_splits, run_procedure
from kdistill.procedures.spec import load_spec

# setting -> shipped procedure spec. The same-architecture, seeds-only ensembles (full data) are benchmarks/strategies.py's
SETTINGS = {"diverse": "ensemble-diverse-fashion", "diverse-digits": "ensemble-diverse-digits"}
PILOT_SEED = 100  # pilots never share a seed with the reported runs
log = logging.getLogger("ensemble")


def environment() -> dict[str, Any]:
    """What produced a cell: machine, threads, package versions, the code's commit, the load when it started."""
    try:
        def git(*command: str) -> str:
            return subprocess.run(["git", *command], capture_output=True, text=True, cwd=Path(__file__).parent,
                                  check=True).stdout.strip()

        # uncommitted changes make the commit an approximation: say so
        commit = git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {**machine(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "numpy": numpy.__version__,
            "commit": commit, "load_average": os.getloadavg()}


def pilot_splits(splits):
    """The validation split in the test split's place: a pilot selects settings without reading the test set."""
    return dataclasses.replace(splits, test_images=splits.val_images, test_labels=splits.val_labels)


def run_cell(setting: str, seed: int, overrides: list[str], pilot: bool) -> dict[str, Any]:
    spec = load_spec(SETTINGS[setting], [*overrides, f"seed={seed}"])
    data = {"val_size": 5000, **spec["data"]}
    splits = load_splits(data["dataset"], data["val_size"], seed, data.get("train_limit"), data.get("test_limit"))
    if pilot:
        splits = pilot_splits(splits)
    started, before = time.perf_counter(), environment()
    result = run_procedure(spec["procedure"], splits, seed=seed, **spec["args"])
    return {**result, "setting": setting, "spec": SETTINGS[setting], "overrides": overrides, "seed": seed,
            "dataset": data["dataset"], "train_size": len(splits.train_labels), "val_size": len(splits.val_labels),
            "evaluated_on": "validation" if pilot else "test", "resolved_args": spec["args"],
            "seconds": time.perf_counter() - started, "environment": before,
            "load_average_after": os.getloadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (pilot: 100)")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], help="spec overrides key=value")
    parser.add_argument("--pilot", action="store_true", help="validation split as the test split; own results file")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(1)
    seeds = args.seeds or ([PILOT_SEED] if args.pilot else [0, 1, 2])
    json_path = args.out / ("ensemble_pilot.json" if args.pilot else "ensemble.json")
    args.out.mkdir(parents=True, exist_ok=True)
    results = load_results(json_path)
    results.update(pilot=args.pilot, settings=SETTINGS)
    for setting in args.settings:
        for seed in seeds:
            key = f"{setting}{''.join(' ' + o for o in args.overrides)}/seed{seed}"
            if key in results["cells"]:
                log.info("%s already finished: skipping", key)
                continue
            log.info("%s: starting", key)
            record_cell(results, key, run_cell(setting, seed, args.overrides, args.pilot), seed)
            save_results(json_path, results)
            atomic_write_text(json_path.with_suffix(".md"), render(results))
            log.info("%s finished in %.0fs", key, results["cells"][key]["seconds"])
    atomic_write_text(json_path.with_suffix(".md"), render(results))
    print(json_path.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
