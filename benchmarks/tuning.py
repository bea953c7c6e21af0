"""Tuned vs default: does `kdistill tune` find better distillation settings, and at what cost?

    python benchmarks/tuning.py                       # hinton + fitnets, 16 trials each, 3 seeds (~40 min, 2 cores)
    python benchmarks/tuning.py --methods hinton --trials 8 --seeds 0

For each method: one study (`kdistill.tune`, seed 0, validation accuracy of the distilled student; the test split is
sealed while tuning) over the method's declared search space plus the student's learning rate, then the recipe's own
(default) values and the study's best values each run end to end (`run_experiment`: teacher, baseline, distilled,
test-set report) for every seed. Reported: test accuracy mean ± std over seeds, the trials the study needed, and wall
time. The setting is a shortened `hinton-mnist` (real MNIST, 15,000 training images, teacher 8 epochs, students 5)
so that both methods fit in about an hour on a shared 2-core CPU; FitNets is the feature method, with MLPs (a hint
from the student's second hidden layer to the teacher's, through a learned linear connector), because a convolutional
pair (resnet20 -> resnet8x4 on Fashion-MNIST) takes hours per study on this machine.

Resumable: each finished cell (a study, or a method x configuration x seed run) is written to
benchmarks/results/tuning.json at once and skipped on rerun; studies and runs resume inside benchmarks/runs/tuning.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS_DIR,
    describe_provenance,
    format_mean_std,
    load_results,
    record_cell,
    save_results,
)

import kdistill  # noqa: E402
from kdistill.atomic import atomic_write_text  # noqa: E402
from kdistill.config import load_recipe  # noqa: E402
from kdistill.experiment import run_experiment  # noqa: E402

RUNS_DIR = Path(__file__).resolve().parent / "runs" / "tuning"
SHORT = ["data.train_limit=15000", "teacher.train.epochs=8", "student.train.epochs=5", "report.plots=false",
         "report.latency_repeats=5", "report.latency_batch_sizes=[1]"]
METHODS = {
    "hinton": [],
    "fitnets": ["distill.method=fitnets", "distill.method_args.layers=[[layers.6,layers.6]]"],
}
STAGES = ("teacher", "baseline", "distilled")


def run_study(method: str, trials: int) -> dict:
    started = time.perf_counter()
    result = kdistill.tune("hinton-mnist", [*SHORT, *METHODS[method]], trials=trials,
                           study_dir=RUNS_DIR / method / "study")
    summary = result.summary
    return {"best_params": result.best_params, "best_val_accuracy": result.best_value, "counts": summary["counts"],
            "trials_to_best": summary["trials_to_best"], "recipe_values": summary["recipe_values"],
            "importances": summary["importances"], "wall_seconds_this_invocation": time.perf_counter() - started,
            "trial_seconds": sum(row["seconds"] or 0 for row in summary["trials"]),
            "best_recipe": str(result.best_recipe.relative_to(RUNS_DIR.parent.parent.parent))}


def run_config(method: str, config: str, seed: int, study: dict) -> dict:
    overrides = [*SHORT, *METHODS[method], f"seed={seed}"]
    if config == "tuned":
        overrides += [f"{key}={value!r}" for key, value in study["best_params"].items()]
        # the default run of this seed trained the same teacher: reuse it (its weights file, checked by hash)
        overrides.append(f"teacher.weights={RUNS_DIR / method / f'default-seed{seed}' / 'teacher' / 'student.safetensors'}")
    recipe = load_recipe("hinton-mnist", overrides)
    started = time.perf_counter()
    report = run_experiment(recipe, RUNS_DIR / method / f"{config}-seed{seed}", resume=True)
    models = report["models"]
    return {"method": method, "config": config, "seed": seed,
            "accuracy": {name: models[name]["accuracy"] for name in STAGES},
            "errors": {name: models[name]["errors"] for name in STAGES},
            "wall_seconds_this_invocation": time.perf_counter() - started}


def render(results: dict) -> str:
    cells = results["cells"]
    lines = ["# Tuned vs default distillation settings (`kdistill tune`)", "",
             f"Produced by `python benchmarks/tuning.py {' '.join(results['argv'])}` on a machine shared with other "
             "jobs (see the provenance line at the end), 1 torch thread, 1 tuning process. "
             "Shortened `hinton-mnist` on real MNIST: 15,000 training images (5,000 more carved for validation), "
             "teacher 784-1200-1200 8 epochs, students 784-800-800 5 epochs. Each study: seed 0, objective = "
             "validation accuracy of the distilled student (test split sealed), TPE + median pruning, the recipe's "
             "own values as trial 0. Test accuracy: mean ± std over seeds of full runs of each configuration.", ""]
    for method in results["methods"]:
        study = cells.get(f"study/{method}")
        if study is None:
            lines += [f"## {method}", "", "study not finished yet", ""]
            continue
        counts = ", ".join(f"{n} {s.lower()}" for s, n in study["counts"].items() if n)
        own = study["recipe_values"]
        lines += [f"## {method}", "",
                  f"Study: {counts}; the best trial came at position {study['trials_to_best']}, validation accuracy "
                  f"{100 * study['best_val_accuracy']:.2f}%"
                  + (f" (the recipe's own values: {100 * own['value']:.2f}%)." if own else "."),
                  f"Tuning wall time {study['wall_seconds_this_invocation'] / 60:.1f} min (trials "
                  f"{study['trial_seconds'] / 60:.1f} min; the rest: teacher training and the study's setup).", "",
                  "| configuration | values | distilled test acc % | baseline test acc % | distilled - baseline | "
                  "teacher test acc % | seeds |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for config in ("default", "tuned"):
            runs = [cell for key, cell in sorted(cells.items()) if key.startswith(f"run/{method}/{config}/")]
            values = ("recipe" if config == "default" else
                      ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.3g}" for k, v in study["best_params"].items()))
            accuracy = {name: [100 * run["accuracy"][name] for run in runs] for name in STAGES}
            gain = [d - b for d, b in zip(accuracy["distilled"], accuracy["baseline"])]
            lines.append(f"| {config} | {values} | {format_mean_std(accuracy['distilled'], 2)} | "
                         f"{format_mean_std(accuracy['baseline'], 2)} | {format_mean_std(gain, 2)} | "
                         f"{format_mean_std(accuracy['teacher'], 2)} | {[run['seed'] for run in runs]} |")
        if study.get("importances"):
            ranked = sorted(study["importances"].items(), key=lambda item: -item[1])
            lines += ["", "Importances (fANOVA): " + ", ".join(f"{k.rsplit('.', 1)[-1]} {v:.2f}" for k, v in ranked)]
        lines.append("")
    total = sum(cell.get("wall_seconds_this_invocation", 0) for cell in cells.values())
    lines += ["The baseline (the same student trained alone) uses each configuration's learning rate, so a tuned "
              "learning rate lifts it too: `distilled - baseline` is what distillation itself adds. In both studies "
              "the best trial was one of the last: more trials may still find better values.", "",
              f"Total wall time of the recorded cells: {total / 60:.0f} min (studies, then 3 seeds x 2 configurations "
              "of full runs: teacher, baseline, distilled, test-set report).", "", describe_provenance(results), ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "tuning")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    json_path = args.out.with_suffix(".json")
    results = load_results(json_path)
    results.update(methods=args.methods, argv=sys.argv[1:], trials=args.trials)
    for method in args.methods:
        key = f"study/{method}"
        if key not in results["cells"]:
            record_cell(results, key, run_study(method, args.trials), seed=0)  # the studies run seed 0
            save_results(json_path, results)
        for seed in args.seeds:
            for config in ("default", "tuned"):
                key = f"run/{method}/{config}/seed{seed}"
                if key in results["cells"]:
                    continue
                record_cell(results, key, run_config(method, config, seed, results["cells"][f"study/{method}"]), seed)
                save_results(json_path, results)
                atomic_write_text(args.out.with_suffix(".md"), render(results))
    atomic_write_text(args.out.with_suffix(".md"), render(results))


if __name__ == "__main__":
    main()
