"""Does every registered method, with its DEFAULT arguments, train at least as well as the student trained alone?

Short real-data runs for issue 11 (MNIST; ``--dataset fashion-mnist`` for the reported recipe's data). One teacher
per pair, trained once with 'supervised' and saved under ``--out``; a stratified subset of 3,000 training images for
the student; the same seed, initial weights, batch order and schedule (RepDistiller's SGD, 2 epochs, cosine) for the
baseline ('supervised') and every method. ``--set method:key=value`` overrides one default (to try a fix).

    OMP_NUM_THREADS=1 python benchmarks/method_defaults.py --pair resnet --methods supervised fitnets at --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/method_defaults.py --methods fitnets --set fitnets:feature_weight=10.0

Each finished (pair, method, overrides, seed) cell is added to ``<out>/method_defaults.json`` (several processes may
share it) and skipped on rerun. The results and the recommended defaults: ``results/method_defaults.md``.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance, results_lock

from kdistill.api import evaluate
from kdistill.atomic import atomic_write_text
from kdistill.data import ArrayLoader, load_dataset, subset
from kdistill.errors import KdistillError
from kdistill.models import build_model
from kdistill.procedures.specialist import restrict_to_classes
from kdistill.strategies import STRATEGIES, build_strategy, uses_teacher
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, train
from kdistill.training.seeding import seed_everything

# teacher and student per pair; the teacher trains longer on more data, so it is clearly the better model
PAIRS = {
    "resnet": {"teacher": ("resnet56", {}), "student": ("resnet20", {}), "teacher_images": 10_000,
               "teacher_epochs": 2},
    "mlp": {"teacher": ("mlp", {"hidden": [1200, 1200]}), "student": ("mlp", {"hidden": [128]}),
            "teacher_images": 20_000, "teacher_epochs": 5},
}
SCHEDULE = {"epochs": 2, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
            "schedule": "cosine", "select": "last"}
STUDENT_IMAGES = 3000
SPECIALIST_CLASSES = [3, 5, 8]


def trained_teacher(pair: str, data, out: Path) -> torch.nn.Module:
    """The pair's teacher, trained once with 'supervised' and cached as a weights-only file."""
    spec = PAIRS[pair]
    name, args = spec["teacher"]
    seed_everything(7)
    teacher = build_model(name, data.input_shape, data.num_classes, **args)
    path = out / (f"teacher-{pair}.pt" if data.name == "mnist" else f"teacher-{pair}-{data.name}.pt")
    if path.exists():
        teacher.load_state_dict(torch.load(path, weights_only=True))
        return teacher
    images, labels = subset(data.train_images, data.train_labels, spec["teacher_images"], seed=7)
    config = TrainConfig(**{**SCHEDULE, "epochs": spec["teacher_epochs"], "seed": 7})
    train(teacher, build_strategy("supervised"), ArrayLoader(images, labels, config.batch_size, seed=7), None, config)
    torch.save(teacher.state_dict(), path)
    return teacher


def run_cell(pair: str, method: str, method_args: dict[str, Any], seed: int, data, teacher) -> dict[str, Any]:
    """Train the student with ``method`` on the fixed subset; test accuracy on the (class-restricted) test set."""
    images, labels = subset(data.train_images, data.train_labels, STUDENT_IMAGES, seed=0)
    test_images, test_labels = data.test_images, data.test_labels
    num_outputs = data.num_classes
    classes = method_args.get("classes")
    if classes is not None:  # a specialist student sees only its classes; 'supervised' learns their positions
        images, original, positions = restrict_to_classes(images, labels, classes)
        labels = original if method == "specialist" else positions
        test_images, _, test_labels = restrict_to_classes(test_images, test_labels, classes)
        num_outputs = len(classes)
        if method != "specialist":
            method_args = {key: value for key, value in method_args.items() if key != "classes"}
    name, args = PAIRS[pair]["student"]
    seed_everything(seed)
    student = build_model(name, data.input_shape, num_outputs, **args)
    config = TrainConfig(**{**SCHEDULE, "seed": seed})
    loader = ArrayLoader(images, labels, config.batch_size, seed=seed)
    context = {"student": student, "example_batch": next(iter(loader)), "num_samples": len(labels)}
    frozen = FrozenTeacher(teacher) if uses_teacher(method) else None
    strategy = build_strategy(method, teacher=frozen, context=context, **method_args)
    started = time.perf_counter()
    try:
        result = train(student, strategy, loader, None, config, desc=method)
    except KdistillError as error:  # a diverging default (NonFiniteLossError) is a result, not a crash
        return {"error": f"{type(error).__name__}: {error}"[:300], "accuracy": 0.0}
    seconds = time.perf_counter() - started
    accuracy = evaluate(student, ArrayLoader(test_images, test_labels, 1000, shuffle=False))["accuracy"]
    last = result.history[-1]
    return {"accuracy": float(accuracy), "seconds": seconds,
            "train": {key: value for key, value in last.items() if key.startswith("train_")}}


def save_cell(path: Path, key: str, cell: dict[str, Any]) -> dict[str, Any]:
    """Add one cell to the results file, keeping cells other processes (other pairs, overrides) wrote meanwhile."""
    with results_lock(path):
        results = json.loads(path.read_text()) if path.exists() else {}
        results[key] = cell
        atomic_write_text(path, json.dumps(results, indent=1, sort_keys=True))
    return results


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["fitnets:feature_weight=1", ...]`` -> {"fitnets": {"feature_weight": 1}}."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        method, assignment = item.split(":", 1)
        key, value = assignment.split("=", 1)
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        overrides.setdefault(method, {})[key] = parsed
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", choices=sorted(PAIRS), default="resnet")
    parser.add_argument("--methods", nargs="+", default=STRATEGIES.names())
    parser.add_argument("--dataset", default="mnist", help="a registered dataset (default mnist)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", help="method:key=value")
    parser.add_argument("--out", type=Path, default=Path("/tmp/kdistill-method-defaults"))
    options = parser.parse_args()
    torch.set_num_threads(1)
    options.out.mkdir(parents=True, exist_ok=True)
    results_path = options.out / "method_defaults.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    data = load_dataset(options.dataset)
    teacher = trained_teacher(options.pair, data, options.out)
    overrides = parse_overrides(options.overrides)
    for method in options.methods:
        method_args = overrides.get(method, {})
        for seed in options.seeds:
            pair = options.pair if options.dataset == "mnist" else f"{options.pair}-{options.dataset}"
            key = f"{pair}|{method}|{json.dumps(method_args, sort_keys=True)}|{seed}"
            if key in results:
                print(key, results[key]["accuracy"], flush=True)
                continue
            results[key] = {**run_cell(options.pair, method, method_args, seed, data, teacher),
                            "provenance": provenance(seed)}
            results = save_cell(results_path, key, results[key])
            print(key, json.dumps(results[key]), flush=True)


if __name__ == "__main__":
    main()
