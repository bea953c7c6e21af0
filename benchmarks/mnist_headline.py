"""The MNIST headline recipe: the paper's 784-800-800 MLP distilled from a small CNN on warped cached views, timed.

    python benchmarks/mnist_headline.py                      # seeds 0 1 2 of the mnist-headline recipe
    python benchmarks/mnist_headline.py --tag pilot-nowarp --seeds 0 distill.cache.warp.rotation=0 ...

Each (tag, seed) is one cell of benchmarks/results/hinton_mnist.json (key ``headline:<tag>:seed<N>``), beside the
Hinton reproduction; the markdown table is rendered by benchmarks/hinton_mnist.py's ``render``. The stages run one
by one in benchmarks/runs/mnist-headline[-<tag>]-seed<N>/ - teacher, teacher cache, distilled student, baseline student,
then ``run_experiment`` (which finds every stage finished, evaluates each model on the test set once and writes the
report) - and each stage's wall time, process CPU time and the load average around it are recorded as soon as the
stage finishes, so a killed cell resumes at its first unfinished stage. The recipe's own cost is teacher + cache +
distilled; the baseline (the same MLP trained alone) is the comparison ``kdistill run`` also trains.

Pilot rows may load one teacher for every student (``teacher.weights=...``): their cells say so (``shared_teacher``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, machine, record_cell, save_results  # noqa: E402

from kdistill import distributed  # noqa: E402
from kdistill.atomic import atomic_write_text  # noqa: E402
from kdistill.cache.recipe import build_recipe_cache  # noqa: E402
from kdistill.config import load_recipe  # noqa: E402
from kdistill.experiment import run_experiment  # noqa: E402
from kdistill.experiment.models import build_seeded  # noqa: E402
from kdistill.experiment.run import distill_stage, distillation_view, prepare_run, teacher_stage, train_stage  # noqa: E402
from kdistill.strategies import build_strategy  # noqa: E402

RUNS_DIR = Path(__file__).resolve().parent / "runs"
RESULTS = RESULTS_DIR / "hinton_mnist.json"
RECIPE = "mnist-headline"
MODELS = ("teacher", "baseline", "distilled")


def timed(stage: Callable[[], Any], stage_dir: Path | None = None) -> tuple[Any, dict[str, float]]:
    """Run ``stage``; its wall seconds, this process's CPU seconds and the 1-minute load average before/after.

    ``stage_dir``: a training stage's folder; if an earlier, killed invocation already finished epochs there, this
    invocation's times miss them, so ``resumed_after_epochs`` says how many (the report's train_seconds has them all).
    """
    metrics = stage_dir / "metrics.jsonl" if stage_dir is not None else None
    done_before = len(metrics.read_text().splitlines()) if metrics is not None and metrics.exists() else 0
    load_before, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    value = stage()
    return value, {"wall_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                   "load_before": load_before, "load_after": os.getloadavg()[0], "resumed_after_epochs": done_before}


def run_cell(tag: str, seed: int, overrides: list[str], cell: dict[str, Any], save: Callable[[], None]) -> None:
    """Fill ``cell`` stage by stage (``cell["stages"]``), calling ``save`` after each; finished stages are skipped."""
    recipe = load_recipe(RECIPE, [*overrides, f"seed={seed}", "report.plots=false"])
    run_dir = RUNS_DIR / (f"{RECIPE}-seed{seed}" if tag == "recipe" else f"{RECIPE}-{tag}-seed{seed}")
    stages = cell.setdefault("stages", {})
    cell["threads"] = recipe.threads
    (recipe, data), prepare = timed(lambda: prepare_run(recipe, run_dir, resume=True))
    teacher, timing = timed(lambda: teacher_stage(recipe, data, run_dir, resume=True)[0], run_dir / "teacher")
    stages.setdefault("teacher", timing)  # a resumed cell keeps the time of the run that trained it
    save()
    _, timing = timed(lambda: build_recipe_cache(recipe, distillation_view(teacher, recipe), data.train_images,
                                                 data.train_labels, run_dir, distributed.context()))
    stages.setdefault("cache", timing)
    save()
    _, timing = timed(lambda: distill_stage(recipe, data, teacher, run_dir, resume=True), run_dir / "distilled")
    stages.setdefault("distilled", timing)
    save()

    def baseline() -> None:
        model = build_seeded(recipe.student.model, recipe.student.model_args, data.input_shape, data.num_classes,
                             recipe.seed + 1)  # run_experiment's baseline: the distilled student's initialisation
        train_stage(model, build_strategy("supervised"), data, recipe.student.train, recipe.student, recipe,
                    run_dir / "baseline", True, "baseline")

    _, timing = timed(baseline, run_dir / "baseline")
    stages.setdefault("baseline", timing)
    save()
    report, timing = timed(lambda: run_experiment(recipe, run_dir, resume=True))  # every stage loads: evaluation
    stages.setdefault("report", timing)
    models = report["models"]
    cell.update(
        errors={name: models[name]["errors"] for name in MODELS},
        params={name: models[name]["params"] for name in MODELS},
        agreement={name: models[name]["agreement"] for name in MODELS},
        train_seconds={name: models[name]["train_seconds"] for name in MODELS},
        run_dir=str(run_dir.relative_to(RUNS_DIR.parent.parent)), done=True, prepare=prepare,
    )
    save()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides applied to every seed")
    parser.add_argument("--tag", default="recipe", help="row name; 'recipe' = the recipe as shipped")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--note", default="", help="what this row changes, for the table")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON path (default results/hinton_mnist.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.tag == "recipe" and args.overrides:
        raise SystemExit("the 'recipe' row is the shipped recipe: give overrides a --tag of their own")
    for seed in args.seeds:
        key = f"headline:{args.tag}:seed{seed}"
        results = load_results(args.results)
        cell = results["cells"].get(key) or {}
        if cell.get("done"):
            logging.info("%s already finished: skipping", key)
            continue
        cell.update(tag=args.tag, seed=seed, recipe=RECIPE, overrides=args.overrides, note=args.note,
                    shared_teacher=any(o.startswith("teacher.weights=") for o in args.overrides),
                    machine=machine(), packages={p: importlib.metadata.version(p) for p in ("torch", "numpy")})

        def save(key: str = key, cell: dict[str, Any] = cell, path: Path = args.results) -> None:
            from hinton_mnist import render  # hinton_mnist.md: the reproduction's table, then the headline section

            current = load_results(path)
            current["cells"] = {}
            record_cell(current, key, cell, cell["seed"])  # save_results merges it with the file's other cells
            save_results(path, current)
            merged = load_results(path)
            atomic_write_text(path.with_suffix(".md"), render(merged, merged.get("recipe", "hinton-mnist")))

        run_cell(args.tag, seed, args.overrides, cell, save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
