"""Benchmark: does the teacher cache make distillation cost what plain student training costs, without losing accuracy?

For each dataset (MNIST, Fashion-MNIST) and teacher (an MLP and a CNN, each ~10x the student's FLOPs), with ±1 px
jitter on the student's inputs:

- timing (one cell, all modes interleaved in one process, so the ratios are side by side): median training-epoch
  seconds of plain student training, distillation recomputing the teacher, and distillation from a full-fp16 and a
  top-k cache; the cache build time as a fraction of one recomputing epoch;
- accuracy: test accuracy of the recomputed-teacher, cached-full and cached-top-k students (mean ± std over seeds);
- bytes per sample of each cache format;
- memory: peak RSS of a training epoch (in a child process) that streams a cache larger than the dataset's own image
  array (the cache stores a teacher hidden layer for every view), next to the same epoch without a cache.

Resumable: every finished cell is recorded in the JSON and skipped on a rerun with the same settings.

    python benchmarks/teacher_cache.py --smoke                         # digits, seconds: checks the files
    python benchmarks/teacher_cache.py --seeds 3 --epochs 10           # the full benchmark
    python benchmarks/teacher_cache.py --seeds 1 --epochs 2 --datasets mnist --train-limit 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    parser.add_argument("--timing-repeats", type=int, default=2, help="timed epochs per mode (median is kept)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "teacher_cache.json")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.datasets, args.seeds, args.epochs, args.teacher_epochs = ["digits"], 2, 1, 1
        args.timing_repeats, args.output = 1, RESULTS / "teacher_cache_smoke.json"
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
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def save_results(args: argparse.Namespace, results: dict[str, Any]) -> None:
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
    loader = CachedViewLoader(images, labels, 128, views=cache.views, max_shift=JITTER, seed=seed, view_seed=0)
    return build_strategy("hinton", teacher=CachedTeacher(cache), temperature=TEMPERATURE), loader


MODES = ("plain", "recompute", "cache-full", "cache-topk")


def timing_cell(args, data, teacher, caches, student_spec) -> dict[str, Any]:
    """Median training-epoch seconds per mode; modes interleaved so drifting machine load hits all alike."""
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for repeat in range(args.timing_repeats + 1):  # round 0 warms up (page cache, allocator) and is not kept
        for mode in MODES:
            student = build(student_spec, data, seed=1)
            strategy, loader = mode_setup(mode, teacher, caches, data, seed=1)
            result = train(student, strategy, loader, None, student_config(args, 1, 1), desc=f"time {mode}")
            if repeat > 0:
                seconds[mode].append(result.history[-1]["seconds"])
    median = {mode: statistics.median(values) for mode, values in seconds.items()}
    return {"epoch_seconds": median, "all_epoch_seconds": seconds,
            "ratio_cached_full_vs_plain": median["cache-full"] / median["plain"],
            "ratio_cached_topk_vs_plain": median["cache-topk"] / median["plain"],
            "ratio_recompute_vs_plain": median["recompute"] / median["plain"],
            "speedup_full_vs_recompute": median["recompute"] / median["cache-full"]}


def accuracy_cell(args, data, teacher, caches, student_spec, mode: str, seed: int) -> dict[str, Any]:
    student = build(student_spec, data, seed=1000 + seed)
    strategy, loader = mode_setup(mode, teacher, caches, data, seed)
    result = train(student, strategy, loader, data.eval_loader("val", 1000), student_config(args, args.epochs, seed),
                   desc=f"{mode} s{seed}")
    return {"test_accuracy": test_accuracy(student, data), "val_accuracy": result.history[-1]["val_accuracy"],
            "seconds": result.seconds}


# ---------------------------------------------------------------- memory (child process)

def memory_cell(args, dataset: str, kind: str, with_cache: bool) -> dict[str, Any]:
    request = json.dumps({"dataset": dataset, "kind": kind, "with_cache": with_cache, "smoke": args.smoke,
                          "train_limit": args.train_limit, "views": args.views, "topk": args.topk,
                          "teacher_epochs": args.teacher_epochs})
    output = subprocess.run([sys.executable, __file__, "--memory-child", request], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def memory_child(request: dict[str, Any]) -> None:
    """One epoch of distillation; with a cache it also reads a stored teacher hidden layer (the big part) per step."""
    args = parse_args(["--smoke"] if request["smoke"] else [])
    args.train_limit, args.views, args.topk = request["train_limit"], request["views"], request["topk"]
    args.teacher_epochs = request["teacher_epochs"]
    data = load_data(args, request["dataset"])
    teacher_spec, student_spec = model_specs(args, request["kind"])
    teacher = build(teacher_spec, data, seed=100)
    teacher.load_state_dict(load_weights(WORK / f"{request['dataset']}-{request['kind']}-{args.teacher_epochs}ep-"
                                                f"{len(data.train_labels)}.safetensors"))
    feature = "layers.3" if request["kind"] == "mlp" else "features.3"  # the first hidden layer's output
    folder = WORK / f"cache-{request['dataset']}-{request['kind']}-full-features"
    samples: list[int] = []
    stop = threading.Event()

    def sample_anon() -> None:
        while not stop.is_set():
            samples.append(rss_kib("RssAnon"))
            time.sleep(0.02)

    baseline_kib = rss_kib("VmRSS")
    sampler = threading.Thread(target=sample_anon, daemon=True)
    sampler.start()
    if request["with_cache"]:
        cache = TeacherCache(folder, verify=False)
        cached = CachedTeacher(cache)
        strategy = FeatureReadingHinton(cached)
        loader = CachedViewLoader(data.train_images, data.train_labels, 128, views=cache.views, max_shift=JITTER,
                                  seed=1, view_seed=0)
    else:
        cache = None
        strategy = build_strategy("hinton", teacher=FrozenTeacher(teacher), temperature=TEMPERATURE)
        loader = ArrayLoader(data.train_images, data.train_labels, 128, max_shift=JITTER, seed=1)
    train(build(student_spec, data, seed=1), strategy, loader, None, student_config(args, 1, 1), desc="memory")
    stop.set()
    sampler.join()
    print(json.dumps({
        "peak_rss_mb": rss_kib("VmHWM") / 1024, "peak_anon_rss_mb": max(samples) / 1024,
        "rss_before_training_mb": baseline_kib / 1024, "final_file_rss_mb": rss_kib("RssFile") / 1024,
        "dataset_array_mb": data.train_images.numel() * data.train_images.element_size() / 2**20,
        "cache_mb": cache.size_bytes() / 2**20 if cache is not None else 0.0, "feature": feature,
    }))


class FeatureReadingHinton(torch.nn.Module):
    """Hinton KD from the cache that also fetches the stored hidden features every step (as a hint method would)."""

    def __init__(self, cached: CachedTeacher):
        super().__init__()
        self.cached = cached
        self.hinton = build_strategy("hinton", teacher=cached, temperature=TEMPERATURE)
        self.feature_elements = 0

    def forward(self, batch, student):
        self.feature_elements += sum(f.numel() for f in self.cached.features(batch).values())
        return self.hinton(batch, student)


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(json.loads(args.memory_child))
        return 0
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    results = load_results(args)
    for dataset in args.datasets:
        data = load_data(args, dataset)
        for kind in args.teachers:
            teacher_spec, student_spec = model_specs(args, kind)
            teacher = teacher_for(args, results, data, dataset, kind)
            caches = {fmt: cache_for(args, results, data, teacher, dataset, kind, fmt) for fmt in ("full", "topk")}

            def timing() -> dict[str, Any]:
                out = timing_cell(args, data, teacher, caches, student_spec)
                example = data.test_images[:1]
                out["teacher_mflops"] = flops_per_sample(teacher, example) / 1e6
                out["student_mflops"] = flops_per_sample(build(student_spec, data, 1), example) / 1e6
                return out

            cell(args, results, f"timing/{dataset}/{kind}", timing)
            for seed in range(args.seeds):
                for mode in MODES:
                    cell(args, results, f"accuracy/{dataset}/{kind}/{mode}/{seed}",
                         lambda: accuracy_cell(args, data, teacher, caches, student_spec, mode, seed))
    if not args.skip_memory:
        dataset, kind = args.datasets[0], "mlp" if "mlp" in args.teachers else args.teachers[0]
        data = load_data(args, dataset)
        teacher = teacher_for(args, results, data, dataset, kind)
        feature = "layers.3" if kind == "mlp" else "features.3"
        cache_for(args, results, data, teacher, dataset, kind, "full", features=(feature,))
        for with_cache in (False, True):
            name = f"memory/{dataset}/{kind}/{'cached+features' if with_cache else 'recompute'}"
            cell(args, results, name, lambda: memory_cell(args, dataset, kind, with_cache))
    save_results(args, results)
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
