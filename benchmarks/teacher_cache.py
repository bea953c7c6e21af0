"""Benchmark: does the teacher cache make distillation cost what plain student training costs, without losing accuracy?

For each dataset (MNIST, Fashion-MNIST) and teacher (an MLP and a CNN, each ~10x the student's FLOPs), with ±1 px
jitter on the student's inputs:

- step cost (``steptime`` cells): for several student sizes (a small MLP, the paper's 800-800 MLP, a small CNN), one
  training epoch through the real loop (``kdistill.training.train``) per variant - plain student, distillation
  recomputing the MLP teacher, distillation from the full-fp16 and the top-k cache - in rounds that interleave the
  variants (order rotated every round, round 0 a discarded warm-up). Each round gives a ratio to that round's plain
  epoch, in process CPU seconds (robust to other jobs taking the core) and in wall seconds; the median, IQR and
  min-max of those ratios are reported, a median below 1.0 is flagged as a measurement error, and the load average
  is recorded before and after each cell;
- step cost by lockstep (``lockstep-repeated`` cells, teacher_cache_lockstep.py): the four variants alternate step
  by step, each step timed alone in thread CPU time - the most robust figure on a shared machine; the whole cell is
  run ``--lockstep-repeats`` times from fresh students (median and p10-p90 over runs, load average per run). The
  ``lockstep`` cells (one run each) were measured with earlier code and stay as the "before";
- accuracy: test accuracy of the plain, recomputed-teacher, cached-full and cached-top-k students (mean ± std);
- bytes per sample of each cache format;
- memory (``rss`` cells, child processes): RSS sampled every few steps while the small student trains for several
  epochs reading a cache that also stores a 1200-wide teacher hidden layer for 8 views (several times the training
  images' size); the series are in the JSON, the curve in ``results/teacher_cache.rss.png``.

Resumable: every finished cell is recorded in the JSON and skipped on a rerun with the same settings.

    python benchmarks/teacher_cache.py --smoke                         # digits, seconds: checks the files
    python benchmarks/teacher_cache.py --seeds 3 --epochs 10           # the full benchmark
    python benchmarks/teacher_cache.py --seeds 3 --epochs 5 --teacher-epochs 4 --train-limit 20000 --views 4 \
        --topk 5 --datasets mnist --teachers mlp                       # what results/teacher_cache.* holds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, provenance, results_lock  # noqa: E402
from teacher_cache_lockstep import lockstep_cell, repeated_lockstep  # noqa: E402
from teacher_cache_memory import FeatureReadingHinton, RssSampler, plot_curves, summarise  # noqa: E402
from teacher_cache_report import render_markdown  # noqa: E402

from kdistill.atomic import atomic_write_text  # noqa: E402
from kdistill.cache import CacheSettings, CachedTeacher, CachedViewLoader, TeacherCache, build_cache  # noqa: E402
from kdistill.config import DataSection  # noqa: E402
from kdistill.data import ArrayLoader  # noqa: E402
from kdistill.evaluation.metrics import accuracy  # noqa: E402
from kdistill.evaluation.predict import predict_logits  # noqa: E402
from kdistill.evaluation.profile import flops_per_sample  # noqa: E402
from kdistill.experiment.splits import ExperimentData, prepare_data  # noqa: E402
from kdistill.models import build_model  # noqa: E402
from kdistill.strategies import build_strategy  # noqa: E402
from kdistill.teachers import FrozenTeacher  # noqa: E402
from kdistill.training import TrainConfig, load_weights, save_weights, train  # noqa: E402
from kdistill.training.seeding import seed_everything  # noqa: E402

RESULTS = Path(__file__).parent / "results"
WORK = Path(__file__).parent / ".work" / "teacher_cache"
TEMPERATURE = 4.0
JITTER = 1

# (teacher, student) per teacher kind: the teacher costs ~10x the student's FLOPs per sample
MODELS = {
    "mlp": (("mlp", {"hidden": [1200, 1200], "dropout": 0.3}), ("mlp", {"hidden": [300]})),
    "cnn": (("cnn", {"channels": [32, 64], "hidden": 128}), ("cnn", {"channels": [8, 16], "hidden": 32})),
}
SMOKE_MODELS = {
    "mlp": (("mlp", {"hidden": [256, 256]}), ("mlp", {"hidden": [32]})),
    "cnn": (("cnn", {"channels": [16, 32], "hidden": 64}), ("cnn", {"channels": [4, 8], "hidden": 16})),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="digits, tiny models, 1 epoch: checks the pipeline")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--teachers", nargs="+", default=["mlp", "cnn"], choices=sorted(MODELS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="student epochs per accuracy cell")
    parser.add_argument("--teacher-epochs", type=int, default=5)
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training samples")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--topk", type=int, default=3)
    parser.add_argument("--timing-repeats", type=int, default=2, help="accuracy-era setting, kept for the file")
    parser.add_argument("--timing-rounds", type=int, default=12, help="timed rounds per MLP student (CNN: 1/3)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-steptime", action="store_true")
    parser.add_argument("--skip-epochs", action="store_true", help="step cost: only the lockstep cells")
    parser.add_argument("--lockstep-epochs", type=int, default=3)
    parser.add_argument("--lockstep-repeats", type=int, default=5, help="independent lockstep runs per student")
    parser.add_argument("--machine-note", default="", help="what else ran on the machine, recorded per cell")
    parser.add_argument("--output", type=Path, default=RESULTS / "teacher_cache.json")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.datasets, args.seeds, args.epochs, args.teacher_epochs = ["digits"], 2, 1, 1
        args.timing_repeats, args.timing_rounds, args.output = 1, 2, RESULTS / "teacher_cache_smoke.json"
    return args


# ---------------------------------------------------------------- results file

def load_results(args: argparse.Namespace) -> dict[str, Any]:
    settings = {key: getattr(args, key) for key in ("smoke", "epochs", "teacher_epochs", "train_limit", "views",
                                                     "topk", "timing_repeats")}
    if args.output.exists():
        results = json.loads(args.output.read_text())
        if results.get("settings") == settings:
            return results
        print(f"settings changed since {args.output} was written: starting a new results file")
    return {"settings": settings, "environment": environment(), "cells": {}}


def environment() -> dict[str, Any]:
    return {**machine(), "numpy": np.__version__, "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def save_results(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Merge with what another process (e.g. a --skip-steptime run beside a --skip-accuracy one) wrote meanwhile."""
    with results_lock(args.output):
        if args.output.exists():
            on_disk = json.loads(args.output.read_text())
            results.update({**on_disk, **results, "cells": {**on_disk.get("cells", {}), **results["cells"]}})
        atomic_write_text(args.output, json.dumps(results, indent=2))
    atomic_write_text(args.output.with_suffix(".md"), render_markdown(results, JITTER, TEMPERATURE, MODES))


def cell(args: argparse.Namespace, results: dict[str, Any], key: str, compute) -> dict[str, Any]:
    """Run ``compute()`` unless ``key`` is already recorded; record and save it."""
    if key not in results["cells"]:
        print(f"[{time.strftime('%H:%M:%S')}] {key} ...", flush=True)
        results["cells"][key] = compute()
        save_results(args, results)
    return results["cells"][key]


# ---------------------------------------------------------------- building blocks

def model_specs(args: argparse.Namespace, kind: str):
    return (SMOKE_MODELS if args.smoke else MODELS)[kind]


def build(spec, data: ExperimentData, seed: int) -> torch.nn.Module:
    seed_everything(seed)
    name, model_args = spec
    return build_model(name, data.input_shape, data.num_classes, **model_args)


def load_data(args: argparse.Namespace, dataset: str) -> ExperimentData:
    val_size = 200 if dataset == "digits" else 5000
    limit = 600 if args.smoke else args.train_limit
    return prepare_data(DataSection(dataset=dataset, val_size=val_size, train_limit=limit), seed=0)


def student_config(args: argparse.Namespace, epochs: int, seed: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9, schedule="cosine",
                       seed=seed, select="last")


def test_accuracy(model: torch.nn.Module, data: ExperimentData) -> float:
    logits, labels = predict_logits(model, data.eval_loader("test", 1000))
    return float(accuracy(logits, labels))


def teacher_for(args, results, data: ExperimentData, dataset: str, kind: str) -> torch.nn.Module:
    path = WORK / f"{dataset}-{kind}-{args.teacher_epochs}ep-{len(data.train_labels)}.safetensors"
    teacher = build(model_specs(args, kind)[0], data, seed=100)

    def compute() -> dict[str, Any]:
        config = TrainConfig(epochs=args.teacher_epochs, batch_size=128, lr=0.05, schedule="cosine", seed=100)
        loader = ArrayLoader(data.train_images, data.train_labels, 128, max_shift=JITTER, seed=100)
        result = train(teacher, build_strategy("supervised"), loader, data.eval_loader("val", 1000), config)
        save_weights(path, teacher.state_dict())
        return {"test_accuracy": test_accuracy(teacher, data), "train_seconds": result.seconds}

    cell(args, results, f"teacher/{dataset}/{kind}", compute)
    if not path.exists():
        raise SystemExit(f"{path} is missing (the work folder was cleaned): delete the teacher cells from "
                         f"{args.output} and rerun")
    teacher.load_state_dict(load_weights(path))
    return teacher.eval()


def cache_for(args, results, data, teacher, dataset: str, kind: str, fmt: str, features=()) -> TeacherCache:
    folder = WORK / f"cache-{dataset}-{kind}-{fmt}{'-features' if features else ''}"
    settings = CacheSettings(format=fmt, topk=args.topk, temperature=TEMPERATURE, views=args.views,
                             features=tuple(features))

    def compute() -> dict[str, Any]:
        stats = build_cache(folder, teacher, data.train_images, data.train_labels, settings, dataset=dataset,
                            max_shift=JITTER, seed=0, on_mismatch="rebuild")
        cache = TeacherCache(folder)
        return {"build_seconds": stats.seconds, "bytes": cache.size_bytes(),
                "bytes_per_sample": cache.bytes_per_sample(include_features=True), "views": cache.views}

    key = f"cache/{dataset}/{kind}/{fmt}{'+features' if features else ''}"
    cell(args, results, key, compute)
    # rebuilds only if missing or stale (e.g. the work folder was cleaned); the recorded build time stays the first
    build_cache(folder, teacher, data.train_images, data.train_labels, settings, dataset=dataset, max_shift=JITTER,
                seed=0, progress=False)
    return TeacherCache(folder)


def mode_setup(mode: str, teacher, caches: dict[str, TeacherCache], data: ExperimentData, seed: int):
    """(strategy, training batches) for one of plain | recompute | cache-full | cache-topk."""
    images, labels = data.train_images, data.train_labels
    if mode == "plain":
        return build_strategy("supervised"), ArrayLoader(images, labels, 128, max_shift=JITTER, seed=seed)
    if mode == "recompute":
        loader = ArrayLoader(images, labels, 128, max_shift=JITTER, seed=seed)
        return build_strategy("hinton", teacher=FrozenTeacher(teacher), temperature=TEMPERATURE), loader
    cache = caches[mode.removeprefix("cache-")]
    loader = CachedViewLoader(images, labels, 128, seed=seed, cache=cache, temperature=TEMPERATURE)
    return build_strategy("hinton", teacher=CachedTeacher(cache), temperature=TEMPERATURE), loader


MODES = ("plain", "recompute", "cache-full", "cache-topk")


def timing_cell(args, data, teacher, cache_folders: dict[str, Path], student_spec, repeats: int) -> dict[str, Any]:
    """One training epoch per variant per round, variants interleaved (order rotated each round); ratios per round.

    Every cached epoch opens its cache afresh, so it pays the per-epoch table decode a real epoch pays.
    """
    seconds = {mode: {"cpu": [], "wall": [], "loop": []} for mode in MODES}
    load_before = os.getloadavg()
    for round_index in range(repeats + 1):  # round 0 warms up (page cache, allocator) and is not kept
        shift = round_index % len(MODES)
        for mode in MODES[shift:] + MODES[:shift]:
            student = build(student_spec, data, seed=1)
            caches = {fmt: TeacherCache(folder, verify=False) for fmt, folder in cache_folders.items()}
            strategy, loader = mode_setup(mode, teacher, caches, data, seed=1)
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            result = train(student, strategy, loader, None, student_config(args, 1, 1), progress=False)
            cpu, wall = time.process_time() - cpu_started, time.perf_counter() - wall_started
            if round_index > 0:
                seconds[mode]["cpu"].append(cpu)
                seconds[mode]["wall"].append(wall)
                seconds[mode]["loop"].append(result.history[-1]["seconds"])
    ratios = {mode: {clock: spread([a / b for a, b in zip(seconds[mode][clock], seconds["plain"][clock])])
                     for clock in ("cpu", "wall")} for mode in MODES if mode != "plain"}
    flags = [f"{mode} {clock} median ratio {r['median']:.3f} < 1.0: measurement error"
             for mode, by_clock in ratios.items() for clock, r in by_clock.items() if r["median"] < 1.0]
    return {"seconds": seconds, "ratios": ratios, "flags": flags, "rounds": repeats,
            "median_seconds": {mode: {clock: statistics.median(v) for clock, v in by.items()}
                               for mode, by in seconds.items()},
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "steps_per_epoch": len(ArrayLoader(data.train_images, data.train_labels, 128)),
            "environment": environment()}


def spread(values: list[float]) -> dict[str, float]:
    """Median, quartiles (IQR), min and max of per-round ratios, and how many rounds fell below 1.0."""
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": quartiles[0], "q3": quartiles[2], "min": min(values),
            "max": max(values), "rounds_below_1": sum(value < 1.0 for value in values)}


def accuracy_cell(args, data, teacher, caches, student_spec, mode: str, seed: int) -> dict[str, Any]:
    student = build(student_spec, data, seed=1000 + seed)
    strategy, loader = mode_setup(mode, teacher, caches, data, seed)
    result = train(student, strategy, loader, data.eval_loader("val", 1000), student_config(args, args.epochs, seed),
                   desc=f"{mode} s{seed}")
    return {"test_accuracy": test_accuracy(student, data), "val_accuracy": result.history[-1]["val_accuracy"],
            "seconds": result.seconds}


# ---------------------------------------------------------------- memory (child process)

MEMORY_VIEWS = 8  # the features cache stores 8 views: several times the training images' size
MEMORY_EPOCHS = 3


def memory_cell(args, dataset: str, kind: str) -> dict[str, Any]:
    request = json.dumps({"dataset": dataset, "kind": kind, "smoke": args.smoke,
                          "train_limit": args.train_limit, "topk": args.topk, "teacher_epochs": args.teacher_epochs})
    output = subprocess.run([sys.executable, __file__, "--memory-child", request], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def memory_folder(dataset: str, kind: str) -> Path:
    return WORK / f"cache-{dataset}-{kind}-full-features{MEMORY_VIEWS}"


def memory_child(request: dict[str, Any]) -> None:
    """Several epochs of Hinton KD from the cache, reading the stored hidden layer every step; RSS sampled."""
    torch.set_num_threads(1)
    args = parse_args(["--smoke"] if request["smoke"] else [])
    args.train_limit, args.topk, args.teacher_epochs = request["train_limit"], request["topk"], request["teacher_epochs"]
    data = load_data(args, request["dataset"])
    student_spec = model_specs(args, request["kind"])[1]
    cache = TeacherCache(memory_folder(request["dataset"], request["kind"]), verify=False)
    loader = CachedViewLoader(data.train_images, data.train_labels, 128, seed=1, cache=cache)
    cached = CachedTeacher(cache)
    sampler = RssSampler(every=5)
    strategy = FeatureReadingHinton(build_strategy("hinton", teacher=cached, temperature=TEMPERATURE), cached,
                                    sampler)
    train(build(student_spec, data, seed=1), strategy, loader, None, student_config(args, MEMORY_EPOCHS, 1),
          progress=False)
    sampler.sample()
    print(json.dumps({
        "series": sampler.series, "series_columns": ["step", "seconds", "rss_mb", "file_rss_mb"],
        **summarise(sampler.series, MEMORY_EPOCHS, len(loader)), "epochs": MEMORY_EPOCHS, "steps_per_epoch": len(loader),
        "reader": "pread gather (features), mmap + release per shard (logits table)",
        "dataset_array_mb": data.train_images.numel() * data.train_images.element_size() / 2**20,
        "cache_mb": cache.size_bytes() / 2**20, "feature_values_read": strategy.feature_values,
        "load_average": os.getloadavg(), "environment": environment(),
    }))


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(json.loads(args.memory_child))
        return 0
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    results = load_results(args)
    # step cost first, then memory, then accuracy: the cheap cells that answer the cost question come first
    for dataset in args.datasets:
        if "mlp" in args.teachers and not args.skip_steptime:
            data = load_data(args, dataset)
            teacher = teacher_for(args, results, data, dataset, "mlp")
            caches = {fmt: cache_for(args, results, data, teacher, dataset, "mlp", fmt) for fmt in ("full", "topk")}
            step_cost_cells(args, results, data, teacher, caches, dataset)
    if not args.skip_memory and "mlp" in args.teachers:
        memory_cells(args, results, args.datasets[0])
    for dataset in args.datasets if not args.skip_accuracy else []:
        data = load_data(args, dataset)
        for kind in args.teachers:
            student_spec = model_specs(args, kind)[1]
            teacher = teacher_for(args, results, data, dataset, kind)
            caches = {fmt: cache_for(args, results, data, teacher, dataset, kind, fmt) for fmt in ("full", "topk")}
            for seed in range(args.seeds):
                for mode in MODES:
                    cell(args, results, f"accuracy/{dataset}/{kind}/{mode}/{seed}",
                         lambda: accuracy_cell(args, data, teacher, caches, student_spec, mode, seed))
    save_results(args, results)
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}")
    return 0


def step_cost_cells(args, results, data, teacher, caches: dict[str, TeacherCache], dataset: str) -> None:
    """Every student size distils the MLP teacher (the teacher only matters for the "recompute" variant)."""
    folders = {fmt: cache.folder for fmt, cache in caches.items()}
    for name, spec in timing_students(args).items():
        repeats = args.timing_rounds if spec[0] == "mlp" else max(3, args.timing_rounds // 3)

        def timing(spec=spec, repeats=repeats) -> dict[str, Any]:
            out = timing_cell(args, data, teacher, folders, spec, repeats)
            example = data.test_images[:1]
            out["teacher_mflops"] = flops_per_sample(teacher, example) / 1e6
            out["student_mflops"] = flops_per_sample(build(spec, data, 1), example) / 1e6
            out["student"] = {"name": spec[0], **spec[1]}
            return out

        if not args.skip_epochs:
            cell(args, results, f"steptime/{dataset}/{name}", timing)
        cell(args, results, f"lockstep-repeated/{dataset}/{name}",
             lambda spec=spec: lockstep_repeated(args, data, teacher, folders, spec))


def lockstep(args, data, teacher, cache_folders: dict[str, Path], student_spec) -> dict[str, Any]:
    """Step-by-step interleaving of the four variants over ``--lockstep-epochs`` epochs (see teacher_cache_lockstep)."""
    caches = {fmt: TeacherCache(folder, verify=False) for fmt, folder in cache_folders.items()}
    setups = {}
    for mode in MODES:
        strategy, loader = mode_setup(mode, teacher, caches, data, seed=1)
        setups[mode] = (build(student_spec, data, seed=1), strategy, loader)
    load_before = os.getloadavg()
    epochs = args.lockstep_epochs if student_spec[0] == "mlp" else 1  # a CNN epoch is ~40x an MLP one
    out = lockstep_cell(setups, student_config(args, epochs, 1), epochs)
    out.pop("per_round")
    return {**out, "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "student": {"name": student_spec[0], **student_spec[1]}, "environment": environment()}


def lockstep_repeated(args, data, teacher, cache_folders: dict[str, Path], student_spec) -> dict[str, Any]:
    """``--lockstep-repeats`` lockstep runs, each from fresh students and loaders (see repeated_lockstep)."""

    def make_setups():
        caches = {fmt: TeacherCache(folder, verify=False) for fmt, folder in cache_folders.items()}
        setups = {}
        for mode in MODES:
            strategy, loader = mode_setup(mode, teacher, caches, data, seed=1)
            setups[mode] = (build(student_spec, data, seed=1), strategy, loader)
        return setups

    epochs = args.lockstep_epochs if student_spec[0] == "mlp" else 1  # a CNN epoch is ~40x an MLP one
    out = repeated_lockstep(make_setups, student_config(args, epochs, 1), epochs, args.lockstep_repeats)
    return {**out, "student": {"name": student_spec[0], **student_spec[1]}, "machine_note": args.machine_note,
            "environment": environment(), "provenance": provenance(seed=1)}


def memory_cells(args, results, dataset: str) -> None:
    """The RSS curve over a cache with a stored hidden layer for 8 views (earlier mmap-reader cells stay beside it)."""
    data = load_data(args, dataset)
    teacher = teacher_for(args, results, data, dataset, "mlp")
    settings = CacheSettings(format="full", views=MEMORY_VIEWS, features=("layers.3",))
    build_cache(memory_folder(dataset, "mlp"), teacher, data.train_images, data.train_labels, settings,
                dataset=dataset, max_shift=JITTER, seed=0, progress=False)
    cell(args, results, f"rss/{dataset}/mlp/features{MEMORY_VIEWS}/pread", lambda: memory_cell(args, dataset, "mlp"))
    rss = {key.split("/")[-1]: value for key, value in results["cells"].items() if key.startswith("rss/")}
    plot = args.output.with_suffix(".rss.png")
    results["rss_plot"] = plot.name if plot_curves(rss, plot) else None


def timing_students(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, Any]]]:
    """Student sizes whose step cost is timed: the MLP pair's small student, the paper's 800-800 MLP, a small CNN."""
    if args.smoke:
        return {"mlp-32": ("mlp", {"hidden": [32]}), "mlp-128-128": ("mlp", {"hidden": [128, 128]})}
    return {"mlp-300": ("mlp", {"hidden": [300]}), "mlp-800-800": ("mlp", {"hidden": [800, 800]}),
            "cnn-8-16": MODELS["cnn"][1]}


if __name__ == "__main__":
    sys.exit(main())
