"""Intermediate-representation KD benchmark: the CIFAR-100 KD table (RepDistiller / mdistiller) on Fashion-MNIST.

For each teacher -> student pair: one teacher (trained here on all 60k training images, seed 0, shared by every
student seed, as RepDistiller shares one pre-trained teacher), then on a smaller transfer set (a stratified subset of
those images) the student trained alone ("student") and distilled by KD, FitNets, AT, SP, RKD, PKT, DKD and CRD.
Every student of a seed starts from the same initialisation and sees the same batches. The teacher's logits and
stage outputs over the transfer set are computed once into a teacher cache (no augmentation: one view) and served to
every method, so the students' runs never run the teacher. Reports test accuracy (mean ± std over seeds, last epoch:
no selection on the test set) next to the published CIFAR-100 figures, the wall time per epoch of each method
relative to the student alone - with the teacher live and cached, all variants timed in turns in one process on a
short slice, median and interquartile range of the per-turn ratios - and the extra trainable parameters each method
adds (connectors, embedding heads).

Why the teacher sees more data than the students: on this 2-core CPU budget a teacher trained on the small transfer
set alone would have little to teach the student, and a table of methods transferring nothing says nothing. A teacher
trained on more data than its students is also the common practical case.

Method settings are the published ones (RepDistiller's β per method; DKD α = 1, β = 8, T = 4, warm-up over the first
1/12 of training as 20 of 240 epochs); only the schedule is shortened, which favours methods that help early.

Resumable: each finished (dataset, pair, method, seed) cell is written to the JSON at once and skipped on a rerun;
teacher weights and caches are kept in ``--work-dir``. Settings are stored in the JSON and a rerun with other settings
refuses to mix them (use another ``--out``). Several processes may run at once (the JSON is merged under a lock): one
per pair, or, once ``--teachers-only`` has built a pair's teacher and cache, one per seed (all but one with
``--skip-timing``):

    python benchmarks/feature_methods.py --pairs resnet56-resnet20 --teachers-only   # teacher + cache; then in parallel:
    python benchmarks/feature_methods.py --pairs resnet56-resnet20 --seeds 0
    python benchmarks/feature_methods.py --pairs resnet56-resnet20 --seeds 1 2 --skip-timing
    python benchmarks/feature_methods.py --timing-only      # only the cost cells (no teacher training needed)
    python benchmarks/feature_methods.py --smoke            # a few steps per method on tiny data, into /tmp
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record_cell, results_lock, save_results  # noqa: E402
from feature_methods_report import render_markdown  # noqa: E402

from kdistill.atomic import atomic_write_text  # noqa: E402
from kdistill.cache import CacheSettings, CachedTeacher, TeacherCache, build_cache  # noqa: E402
from kdistill.cache.build import probe_outputs  # noqa: E402
from kdistill.data import ArrayLoader, load_dataset, subset  # noqa: E402
from kdistill.deploy.timing import interleaved_times, paired_ratio, summarise
from kdistill.evaluation.metrics import accuracy  # noqa: E402
from kdistill.evaluation.predict import predict_logits  # noqa: E402
from kdistill.features import count_extra_parameters, default_feature_layers  # noqa: E402
from kdistill.models import build_model  # noqa: E402
from kdistill.strategies import build_strategy  # noqa: E402
from kdistill.teachers import FrozenTeacher, Teacher  # noqa: E402
from kdistill.training import TrainConfig, load_weights, save_weights, train  # noqa: E402
from kdistill.training.seeding import seed_everything  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TIMING_STEPS, TIMING_REPEATS, TIMING_WARMUP = 10, 5, 1  # timing: steps per timed epoch, timed turns, untimed turns
PAIRS = {  # name -> (teacher, student); the first two run by default (the cheapest on a CPU)
    "resnet56-resnet20": ("resnet56", "resnet20"),
    "vgg13-vgg8": ("vgg13", "vgg8"),
    "wrn_40_2-wrn_16_2": ("wrn_40_2", "wrn_16_2"),
    "resnet32x4-resnet8x4": ("resnet32x4", "resnet8x4"),
}
# column -> (registered method, method_args); feature methods: CE weight 1, no KD, the method's published β.
METHODS = {
    "student": ("supervised", {}),
    "kd": ("hinton", {"temperature": 4.0, "ce_weight": 0.1, "kd_weight": 0.9}),
    "fitnets": ("fitnets", {"feature_weight": 100.0}),
    "at": ("at", {"feature_weight": 1000.0}),
    "sp": ("sp", {"feature_weight": 3000.0}),
    "rkd": ("rkd", {"feature_weight": 1.0}),
    "pkt": ("pkt", {"feature_weight": 30000.0}),
    "dkd": ("dkd", {"alpha": 1.0, "beta": 8.0, "temperature": 4.0}),
    "crd": ("crd", {"feature_weight": 0.8}),
}


@dataclass
class Settings:
    dataset: str = "fashion-mnist"
    epochs: int = 6
    teacher_epochs: int = 2
    train_limit: int | None = 5000  # the students' transfer set: a stratified subset of the 60k (data seed 0)
    teacher_train_limit: int | None = None  # the teacher's training set (None: all 60k, a superset of the above)
    test_limit: int | None = None  # stratified subset of the 10k test images (None: all)
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    nce_k: int = 4096


def train_config(settings: Settings, epochs: int, seed: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=settings.batch_size, optimizer="sgd", lr=settings.lr, momentum=0.9,
                       weight_decay=settings.weight_decay, schedule="cosine", select="last", seed=seed)


@dataclass
class Data:
    train_images: torch.Tensor  # the students' transfer set
    train_labels: torch.Tensor
    teacher_images: torch.Tensor  # the teacher's training set (contains the transfer set)
    teacher_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int


def load_data(settings: Settings) -> Data:
    dataset = load_dataset(settings.dataset)
    teacher_images, teacher_labels = dataset.train_images, dataset.train_labels
    if settings.teacher_train_limit:
        teacher_images, teacher_labels = subset(teacher_images, teacher_labels, settings.teacher_train_limit, seed=0)
    train_images, train_labels = teacher_images, teacher_labels
    if settings.train_limit:
        train_images, train_labels = subset(train_images, train_labels, settings.train_limit, seed=0)
    test_images, test_labels = dataset.test_images, dataset.test_labels
    if settings.test_limit:
        test_images, test_labels = subset(test_images, test_labels, settings.test_limit, seed=0)
    return Data(train_images, train_labels, teacher_images, teacher_labels, test_images, test_labels,
                dataset.num_classes)


def test_accuracy(model: torch.nn.Module, data: Data) -> float:
    logits, labels = predict_logits(model, ArrayLoader(data.test_images, data.test_labels, 500, shuffle=False))
    return float(accuracy(logits, labels))


def train_method(model, method: str, method_args: dict, teacher: Teacher | None, images: torch.Tensor,
                 labels: torch.Tensor, settings: Settings, epochs: int, seed: int):
    """Train ``model`` with one method on (images, labels); returns (training result, the built strategy)."""
    loader = ArrayLoader(images, labels, settings.batch_size, shuffle=True, seed=seed)
    context = {"student": model, "example_batch": next(iter(loader)), "num_samples": len(labels)}
    strategy = build_strategy(method, teacher=teacher, context=context, **method_args)
    return train(model, strategy, loader, None, train_config(settings, epochs, seed), desc=method), strategy


def fit(model, method: str, method_args: dict, teacher: Teacher | None, data: Data, settings: Settings, epochs: int,
        seed: int):
    """Train ``model`` with one method; returns (test accuracy, seconds per epoch, extra parameters, last record)."""
    result, strategy = train_method(model, method, method_args, teacher, data.train_images, data.train_labels,
                                    settings, epochs, seed)
    seconds = [record["seconds"] for record in result.history]
    last = {k: v for k, v in result.history[-1].items() if k.startswith("train_")}
    return test_accuracy(model, data), statistics.median(seconds), count_extra_parameters(strategy), last


def method_args_for(column: str, settings: Settings, steps: int) -> dict[str, Any]:
    method, args = METHODS[column]
    args = dict(args)
    if method == "dkd":
        args["warmup_steps"] = max(1, round(steps * 20 / 240))  # the paper's 20 of 240 epochs
    if method == "crd":
        args["nce_k"] = settings.nce_k
    return args


def geometry_tag(model: torch.nn.Module, input_shape: tuple[int, ...]) -> str:
    """8 hex digits of the shapes of the model's stage outputs and logits: weights saved by a model whose code has
    since changed (a pooling moved, same parameters) are never loaded into the new one."""
    outputs = probe_outputs(model, torch.zeros(1, *input_shape), default_feature_layers(model))
    shapes = sorted((name, tuple(output.shape)) for name, output in outputs.items())
    return hashlib.sha256(repr(shapes).encode()).hexdigest()[:8]


def teacher_path(pair: str, settings: Settings, work_dir: Path, geometry: str) -> Path:
    """Teacher weights, named by what they depend on so other settings or model code never pick them up."""
    size = settings.teacher_train_limit or "all"
    return work_dir / (f"{settings.dataset}-{pair}-{geometry}-teacher-{size}x{settings.teacher_epochs}ep-seed0"
                       ".safetensors")


def teacher_for(pair: str, data: Data, settings: Settings, work_dir: Path, results: dict, out: Path):
    teacher_name, _ = PAIRS[pair]
    key = f"{settings.dataset}/{pair}/teacher/seed0"
    seed_everything(0)
    teacher = build_model(teacher_name, data.train_images.shape[1:], data.num_classes)
    path = teacher_path(pair, settings, work_dir, geometry_tag(teacher, tuple(data.train_images.shape[1:])))
    if key in results["cells"] and path.exists():
        teacher.load_state_dict(load_weights(path))
        return teacher
    teacher_data = replace(data, train_images=data.teacher_images, train_labels=data.teacher_labels)
    accuracy_, seconds, _, last = fit(teacher, "supervised", {}, None, teacher_data, settings,
                                      settings.teacher_epochs, 0)
    save_weights(path, teacher.state_dict())
    record(results, out, key, {"accuracy": accuracy_, "epoch_seconds": seconds, "extra_parameters": 0, **last}, seed=0)
    return teacher


def untrained_teacher(pair: str, data: Data, settings: Settings, work_dir: Path) -> tuple[torch.nn.Module, str]:
    """(the pair's teacher, how it was made) for ``--timing-only``: the trained weights when a full run left them in
    ``work_dir``, else the seed-0 initialisation - the work per step, hence its time, does not depend on the values."""
    teacher_name, _ = PAIRS[pair]
    seed_everything(0)
    teacher = build_model(teacher_name, data.train_images.shape[1:], data.num_classes)
    path = teacher_path(pair, settings, work_dir, geometry_tag(teacher, tuple(data.train_images.shape[1:])))
    if path.exists():
        teacher.load_state_dict(load_weights(path))
        return teacher, "trained"
    return teacher, "untrained (seed-0 initialisation; the same work per step as the trained teacher)"


def cached_teacher(pair: str, teacher: torch.nn.Module, data: Data, settings: Settings, work_dir: Path,
                   results: dict, out: Path, trained: bool = True) -> CachedTeacher:
    """The teacher's logits and stage outputs over the transfer set, computed once (no augmentation: one view) and
    served to every method and seed - the teacher never runs during the student trainings. An untrained teacher's
    cache (``trained=False``, for timing only) has a folder of its own and is not recorded as the pair's cache."""
    geometry = geometry_tag(teacher, tuple(data.train_images.shape[1:]))
    folder = work_dir / (f"{teacher_path(pair, settings, work_dir, geometry).stem}-cache-{settings.train_limit or 'all'}"
                         f"{'' if trained else '-untrained'}")
    layers = tuple(default_feature_layers(teacher))
    stats = build_cache(folder, teacher, data.train_images, data.train_labels,
                        CacheSettings(views=1, features=layers), dataset=settings.dataset, batch_size=256)
    served = CachedTeacher(TeacherCache(folder))
    key = f"{settings.dataset}/{pair}/cache"
    if trained and key not in results["cells"] and stats.built_shards:
        record_cell(results, key, {"build_seconds": stats.seconds, "layers": list(layers),
                                   "bytes_per_sample": served.cache.bytes_per_sample(include_features=True)}, seed=None)
        print(f"{key}: built in {stats.seconds:.0f}s", flush=True)
        save(results, out)
    return served


def time_methods(pair: str, teacher: torch.nn.Module, served: CachedTeacher, data: Data, settings: Settings,
                 methods: list[str], results: dict, out: Path, teacher_weights: str) -> None:
    """The cost of each method: seconds per TIMING_STEPS-step epoch with the teacher running live (what a user
    without a cache pays) and served from the cache, over the student trained alone. Every variant of the pair is
    built once and timed in turns within this process (kdistill.deploy.timing: the order rotates each turn, so load
    from other processes hits all variants alike), TIMING_REPEATS turns after TIMING_WARMUP untimed ones; a ratio is
    taken per turn and reported as median and interquartile range. One cell per pair, written when all its turns
    finish. ``teacher_weights`` says whether the teacher was trained; its values do not change the work done."""
    key = f"{settings.dataset}/{pair}/timing"
    columns = [column for column in methods if METHODS[column][0] != "supervised"]
    if key in results["cells"] or not columns:
        return
    _, student_name = PAIRS[pair]
    count = TIMING_STEPS * settings.batch_size
    images, labels = data.train_images[:count], data.train_labels[:count]  # indices 0..count-1: in the cache too
    config = train_config(settings, 1, seed=0)

    def epoch_runner(column: str, teacher_: Teacher | None):
        """One epoch of TIMING_STEPS steps per call, on a student and strategy built once (their state carries on)."""
        seed_everything(1000)
        student = build_model(student_name, data.train_images.shape[1:], data.num_classes)
        method, _ = METHODS[column]
        loader = ArrayLoader(images, labels, settings.batch_size, shuffle=True, seed=0)
        context = {"student": student, "example_batch": next(iter(loader)), "num_samples": len(labels)}
        strategy = build_strategy(method, teacher=teacher_, context=context,
                                  **method_args_for(column, settings, TIMING_STEPS * (TIMING_REPEATS + TIMING_WARMUP)))
        return lambda: train(student, strategy, loader, None, config, desc=column, progress=False)

    live = FrozenTeacher(teacher)
    variants = {"student": epoch_runner("student", None)}
    for column in columns:
        variants[f"{column}/live"] = epoch_runner(column, live)
        variants[f"{column}/cached"] = epoch_runner(column, served)
    times = interleaved_times(variants, repeats=TIMING_REPEATS, warmup=TIMING_WARMUP)
    cell = {"steps": TIMING_STEPS, "repeats": TIMING_REPEATS, "warmup": TIMING_WARMUP,
            "teacher_weights": teacher_weights, "epoch_ms": {name: summarise(values) for name, values in times.items()},
            "ratios": {column: {kind: paired_ratio(times[f"{column}/{kind}"], times["student"])
                                for kind in ("live", "cached")} for column in columns}}
    record_cell(results, key, cell, seed=None)
    for column, ratios in cell["ratios"].items():
        print(f"{key} {column}: live x{ratios['live']['median']:.2f}, cached x{ratios['cached']['median']:.2f}",
              flush=True)
    save(results, out)


def record(results: dict, out: Path, key: str, cell: dict, seed: int) -> None:
    record_cell(results, key, cell, seed)
    print(f"{key}: accuracy {100 * cell['accuracy']:.2f}%  {cell['epoch_seconds']:.1f}s/epoch", flush=True)
    save(results, out)


def render(results: dict) -> str:
    return render_markdown(results, list(METHODS))


def save(results: dict, out: Path) -> None:
    """Merge ``results`` into the JSON on disk (one process per pair may run at once), then rewrite the markdown."""
    json_path = out.with_suffix(".json")
    save_results(json_path, results)
    with results_lock(json_path):
        atomic_write_text(out.with_suffix(".md"), render(results))


def run(settings: Settings, pairs: list[str], seeds: list[int], methods: list[str], out: Path, work_dir: Path,
        teachers_only: bool = False, timing: bool = True, timing_only: bool = False) -> dict:
    json_path = out.with_suffix(".json")
    results = json.loads(json_path.read_text()) if json_path.exists() else {"cells": {}}
    stored = results.get("settings")
    if stored is not None and stored != asdict(settings):
        sys.exit(f"{json_path} holds results for other settings ({stored}); use another --out or delete it")
    results["settings"] = asdict(settings)
    work_dir.mkdir(parents=True, exist_ok=True)
    data = load_data(settings)
    for pair in pairs:
        if timing_only:
            teacher, made = untrained_teacher(pair, data, settings, work_dir)
            served = cached_teacher(pair, teacher, data, settings, work_dir, results, out, trained=made == "trained")
            time_methods(pair, teacher, served, data, settings, methods, results, out, made)
            continue
        teacher = teacher_for(pair, data, settings, work_dir, results, out)
        _, student_name = PAIRS[pair]
        served = cached_teacher(pair, teacher, data, settings, work_dir, results, out)
        if teachers_only:
            continue
        if timing:
            time_methods(pair, teacher, served, data, settings, methods, results, out, "trained")
        for seed in seeds:
            for column in methods:
                key = f"{settings.dataset}/{pair}/{column}/seed{seed}"
                if key in results["cells"]:
                    continue
                seed_everything(1000 + seed)  # every method of a seed starts from the same student weights
                student = build_model(student_name, data.train_images.shape[1:], data.num_classes)
                steps = settings.epochs * -(-len(data.train_labels) // settings.batch_size)
                method, _ = METHODS[column]
                accuracy_, seconds, extra, last = fit(
                    student, method, method_args_for(column, settings, steps),
                    None if method == "supervised" else served, data, settings, settings.epochs, seed)
                record(results, out, key, {"accuracy": accuracy_, "epoch_seconds": seconds,
                                           "extra_parameters": extra, **last}, seed)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS)[:2], choices=list(PAIRS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--dataset", default=Settings.dataset, choices=["fashion-mnist", "mnist"])
    parser.add_argument("--epochs", type=int, default=Settings.epochs)
    parser.add_argument("--teacher-epochs", type=int, default=Settings.teacher_epochs)
    parser.add_argument("--train-limit", type=int, default=Settings.train_limit,
                        help="the students' transfer set size (0 = all training images)")
    parser.add_argument("--teacher-train-limit", type=int, default=Settings.teacher_train_limit or 0,
                        help="the teacher's training set size (0 = all training images)")
    parser.add_argument("--teachers-only", action="store_true",
                        help="train (or load) the teachers and build their caches, then stop")
    parser.add_argument("--skip-timing", action="store_true",
                        help="leave the cost cells to another process (several processes per pair, split by seed)")
    parser.add_argument("--timing-only", action="store_true",
                        help="only the cost cells: the teacher as a full run left it, else untrained (same work)")
    parser.add_argument("--test-limit", type=int, default=Settings.test_limit, help="0 = all test images")
    parser.add_argument("--batch-size", type=int, default=Settings.batch_size)
    parser.add_argument("--smoke", action="store_true", help="a few steps per method on tiny data, written to /tmp")
    parser.add_argument("--out", type=Path, default=None, help="output stem (default results/feature_methods)")
    parser.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "kdistill" / "feature_methods")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 per process on a shared 2-core box)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = Settings(args.dataset, args.epochs, args.teacher_epochs, args.train_limit or None,
                        args.teacher_train_limit or None, args.test_limit or None, args.batch_size)
    out = args.out or RESULTS / "feature_methods"
    if args.smoke:
        settings = Settings(args.dataset, epochs=1, teacher_epochs=1, train_limit=48, teacher_train_limit=96,
                            test_limit=50, batch_size=16, nce_k=32)
        args.seeds = args.seeds[:1] if args.seeds != [0, 1, 2] else [0]
        out = args.out or Path("/tmp") / "kdistill-feature-methods-smoke" / "feature_methods"
        args.work_dir = out.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = run(settings, args.pairs, args.seeds, args.methods, out, args.work_dir, args.teachers_only,
                  timing=not args.skip_timing, timing_only=args.timing_only)
    save(results, out)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
