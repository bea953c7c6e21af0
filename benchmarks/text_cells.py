"""The cells of the text benchmark (row x seed), in the order they run, and how each one runs.

A cell's record holds its test accuracy and its test predictions (so agreement with the teacher is computed in the
report), its parameters and its training time. Students of one seed share their initialisation and batch order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from text_data import SETTINGS, WithTeacherOutputs, augmented_train, file_lock, review_sets, sentiment_splits
from text_probe import probe_scores

import kdistill
from kdistill.batch import forward_model
from kdistill.deploy.timing import interleaved_times, paired_ratio, summarise
from kdistill.evaluation import predict_logits
from kdistill.evaluation.profile import count_parameters, profile_model
from kdistill.experiment.models import build_seeded
from kdistill.teachers import FrozenTeacher
from kdistill.teachers.precomputed import PrecomputedTeacher
from kdistill.text.dataset import TokenDataset, text_loader
from kdistill.training import load_weights

SHAPE = {"input_ids": (SETTINGS["max_length"],), "attention_mask": (SETTINGS["max_length"],)}
ARCHS: dict[str, dict[str, Any]] = {
    "6L": {},  # the teacher
    "4L": {"num_layers": 4},  # pretrained layers 1, 2, 4, 5 (0-based): the uniform pick
    "2L": {"num_layers": 2},  # pretrained layers 2, 5
    "4L-w192": {"num_layers": 4, "hidden": 192, "init": "scratch"},  # narrower: projections needed, random init
}
LATENCY_WARMUP = 3  # untimed turns before the timed ones
KD = {"method": "hinton", "temperature": 1.0, "ce_weight": 0.0, "kd_weight": 1.0}  # TinyBERT's soft CE at T = 1
TINYBERT = {"method": "tinybert", "layers": "uniform", "stage": "task", "temperature": 1.0}
METHODS: dict[str, dict[str, Any]] = {
    "student": {},
    "kd": KD,
    "tinybert": TINYBERT,
    "tinybert-no-attention": {**TINYBERT, "attention_weight": 0.0},
    "tinybert-no-hidden": {**TINYBERT, "hidden_weight": 0.0},
    "tinybert-no-embedding": {**TINYBERT, "embedding_weight": 0.0},
    "tinybert-last-layer": {**TINYBERT, "layers": "last"},  # the layer map: last student layer <- last teacher layer
}


@dataclass(frozen=True)
class Cell:
    kind: str  # teacher | student | profile | latency | embedding | embedding-teacher
    seed: int = 0
    method: str = "student"
    arch: str = "4L"
    augment: bool = False
    needs: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        if self.kind == "teacher":
            return f"teacher/s{self.seed}"
        if self.kind in ("profile", "latency", "embedding-teacher"):
            return f"{self.kind}/{self.arch}"
        if self.kind == "embedding":
            return f"embedding/{self.arch}/s{self.seed}"
        return f"{self.method}{'+aug' if self.augment else ''}/{self.arch}/s{self.seed}"


def student(method: str, seed: int, arch: str = "4L", augment: bool = False) -> Cell:
    return Cell("student", seed, method, arch, augment, () if method == "student" else ("teacher/s0",))


CELLS: list[Cell] = [  # in priority order: the main rows over 3 seeds, the embedding table, augmentation, ablations
    Cell("teacher", 0),
    *[student("student", seed) for seed in (0, 1)],
    student("kd", 0), student("tinybert", 0),
    *[Cell("profile", arch=arch) for arch in ARCHS], Cell("latency", arch="all"),
    student("student", 2), student("kd", 1), student("tinybert", 1), student("kd", 2), student("tinybert", 2),
    Cell("embedding-teacher", arch="6L"), Cell("embedding", 0, arch="4L"),
    student("tinybert", 0, augment=True), student("kd", 0, augment=True), student("student", 0, augment=True),
    *[student(method, 0) for method in ("tinybert-no-attention", "tinybert-no-hidden", "tinybert-no-embedding",
                                        "tinybert-last-layer")],
    *[student(method, seed, augment=True) for seed in (1, 2) for method in ("tinybert", "kd", "student")],
    *[student(method, 0, arch) for arch in ("2L", "4L-w192") for method in ("student", "tinybert")],
    Cell("teacher", 1), Cell("teacher", 2),
    Cell("embedding", 0, arch="2L"), Cell("embedding", 1, arch="4L"), Cell("embedding", 2, arch="4L"),
]


def cell_ready(cell: Cell, done: dict[str, Any], runs: Path) -> bool:
    return all(need in done for need in cell.needs)


def train_options(epochs: int, lr: float) -> dict[str, Any]:
    return {"epochs": epochs, "lr": lr, "optimizer": SETTINGS["optimizer"], "weight_decay": SETTINGS["weight_decay"],
            "schedule": SETTINGS["schedule"], "warmup_epochs": SETTINGS["warmup_epochs"]}


def test_record(model: torch.nn.Module) -> dict[str, Any]:
    logits, labels = predict_logits(model, text_loader(sentiment_splits()["test"], 64, shuffle=False))
    predictions = logits.argmax(-1)
    # predictions as one string of class digits (2,000 list items would fill the JSON file one per line)
    return {"accuracy": float((predictions == labels).float().mean()),
            "predictions": "".join(map(str, predictions.tolist())),
            "params": count_parameters(model)}


def teacher_model(runs: Path, seed: int = 0) -> torch.nn.Module:
    model = build_seeded("minilm-classifier", {}, SHAPE, 2, seed)
    model.load_state_dict(load_weights(runs / f"teacher-s{seed}" / "student.safetensors"))
    return model.eval()


def cached_outputs(runs: Path, name: str, model_fn: Any, dataset: TokenDataset) -> torch.Tensor:
    """The teacher's outputs (logits or embeddings) over ``dataset``, computed once into ``runs/<name>.pt``."""
    path = runs / f"{name}.pt"
    with file_lock(path):
        if path.exists():
            return torch.load(path, weights_only=True)
        model, outputs = model_fn(), []
        with torch.inference_mode():
            for batch in text_loader(dataset, 64, shuffle=False):
                outputs.append(forward_model(model.eval(), batch).float())
        stacked = torch.cat(outputs)
        torch.save(stacked, path)
        return stacked


def run_teacher(cell: Cell, runs: Path) -> dict[str, Any]:
    splits = sentiment_splits()
    model = build_seeded("minilm-classifier", {}, SHAPE, 2, cell.seed)
    result = kdistill.fit(model, text_loader(splits["train"], SETTINGS["batch_size"], cell.seed),
                          text_loader(splits["val"], 64, shuffle=False), run_dir=runs / f"teacher-s{cell.seed}",
                          resume=True, verbose=False, **train_options(SETTINGS["teacher_epochs"],
                                                                      SETTINGS["teacher_lr"]))
    return {**test_record(model), "train_seconds": result.seconds, "best_epoch": result.best_epoch}


def run_student(cell: Cell, runs: Path) -> dict[str, Any]:
    splits = sentiment_splits()
    train = augmented_train(runs) if cell.augment else splits["train"]
    # augmented rows take as many steps as the others: the same epochs over the original sentences' count
    epochs = max(1, round(SETTINGS["student_epochs"] * len(splits["train"]) / len(train)))
    options = train_options(epochs, SETTINGS["student_lr"])
    model = build_seeded("minilm-classifier", ARCHS[cell.arch], SHAPE, 2, cell.seed + 1)
    val = text_loader(splits["val"], 64, shuffle=False)
    run_dir = runs / cell.key.replace("/", "_")
    method_args = dict(METHODS[cell.method])
    method = method_args.pop("method", None)
    if method is None:
        result = kdistill.fit(model, text_loader(train, SETTINGS["batch_size"], cell.seed), val, run_dir=run_dir,
                              resume=True, verbose=False, **options)
    elif method == "hinton":  # the teacher's logits, computed once per transfer set
        name = f"teacher-s0-logits-{'aug' if cell.augment else 'train'}"
        logits = cached_outputs(runs, name, lambda: teacher_model(runs), train)
        loader = text_loader(WithTeacherOutputs(train, logits), SETTINGS["batch_size"], cell.seed)
        result = kdistill.distill(PrecomputedTeacher(num_classes=2), model, loader, val, method=method, run_dir=run_dir,
                                  resume=True, verbose=False, **method_args, **options)
    else:
        teacher = FrozenTeacher(teacher_model(runs))
        result = kdistill.distill(teacher, model, text_loader(train, SETTINGS["batch_size"], cell.seed), val,
                                  method=method, run_dir=run_dir, resume=True, verbose=False, **method_args, **options)
    return {**test_record(model), "train_seconds": result.seconds, "best_epoch": result.best_epoch,
            "epochs": epochs, "train_size": len(train)}


def run_profile(cell: Cell, runs: Path) -> dict[str, Any]:
    """Params, FLOPs and CPU latency per sentence at batch 1 and 32, on the median-length test sentence."""
    test = sentiment_splits()["test"]
    lengths = test.lengths()
    median = int(lengths.sort().indices[len(lengths) // 2])
    length = int(lengths[median])
    example = {key: value[median:median + 1, :length] for key, value in test.tokens.items()}
    model = build_seeded("minilm-classifier", ARCHS[cell.arch], SHAPE, 2, 0)
    row = profile_model(model, example, (1, 32), SETTINGS["latency_repeats"])
    row["latency_ms_per_sentence"] = {size: row["latency_ms"][size] / int(size) for size in row["latency_ms"]}
    return {**row, "tokens": length}


def run_latency(cell: Cell, runs: Path) -> dict[str, Any]:
    """CPU latency per sentence of every architecture at batch 1 and 32, all timed in turns in this process
    (kdistill.deploy.timing), on the median-length test sentence: ``{"ms_per_sentence": {size: {arch: median, q1,
    q3}}, "vs_teacher": {size: {arch: per-turn ratio to 6L}}}``. Latency does not depend on the weights' values."""
    test = sentiment_splits()["test"]
    lengths = test.lengths()
    median = int(lengths.sort().indices[len(lengths) // 2])
    length = int(lengths[median])
    models = {arch: build_seeded("minilm-classifier", options, SHAPE, 2, 0).eval() for arch, options in ARCHS.items()}
    record: dict[str, Any] = {"tokens": length, "repeats": SETTINGS["latency_repeats"], "warmup": LATENCY_WARMUP,
                              "ms_per_sentence": {}, "vs_teacher": {}}
    for size in (1, 32):
        batch = {"inputs": {key: value[median:median + 1, :length].repeat(size, 1) for key, value in test.tokens.items()}}
        variants = {arch: (lambda model=model, batch=batch: forward_model(model, batch)) for arch, model in models.items()}
        with torch.inference_mode():
            times = interleaved_times(variants, repeats=SETTINGS["latency_repeats"], warmup=LATENCY_WARMUP)
        record["ms_per_sentence"][str(size)] = {
            arch: {name: value / size for name, value in summarise(values).items() if name.endswith("_ms")}
            for arch, values in times.items()}
        record["vs_teacher"][str(size)] = {arch: paired_ratio(values, times["6L"]) for arch, values in times.items()
                                           if arch != "6L"}
    return record


def run_embedding_teacher(cell: Cell, runs: Path) -> dict[str, Any]:
    sets = review_sets()
    teacher = lambda: build_seeded("minilm-embedder", {}, SHAPE, 2, 0)  # noqa: E731
    embeddings = {name: cached_outputs(runs, f"embed-teacher-{name}", teacher, sets[name])
                  for name in ("probe_train", "probe_test")}
    return {**probe_scores(embeddings, sets), "params": count_parameters(teacher())}


def run_embedding(cell: Cell, runs: Path) -> dict[str, Any]:
    sets = review_sets()
    teacher = lambda: build_seeded("minilm-embedder", {}, SHAPE, 2, 0)  # noqa: E731
    teacher_out = {name: cached_outputs(runs, f"embed-teacher-{name}", teacher, sets[name]) for name in sets}
    model = build_seeded("minilm-embedder", ARCHS[cell.arch], SHAPE, 2, cell.seed + 1)

    def embed(name: str) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([forward_model(model.eval(), batch)
                              for batch in text_loader(sets[name], 64, shuffle=False)])

    before = {name: embed(name) for name in ("probe_train", "probe_test")}
    loader = text_loader(WithTeacherOutputs(sets["transfer"], teacher_out["transfer"]), SETTINGS["batch_size"],
                         cell.seed)
    result = kdistill.distill(PrecomputedTeacher(), model, loader, None, method="sentence-embedding",
                              run_dir=runs / cell.key.replace("/", "_"), resume=True, verbose=False,
                              **train_options(SETTINGS["embed_epochs"], SETTINGS["embed_lr"]))
    after = {name: embed(name) for name in ("probe_train", "probe_test")}
    teacher_test = teacher_out["probe_test"]
    return {**probe_scores(after, sets, teacher_test),
            "before": probe_scores(before, sets, teacher_test), "params": count_parameters(model),
            "train_seconds": result.seconds}


RUNNERS = {"teacher": run_teacher, "student": run_student, "profile": run_profile, "latency": run_latency,
           "embedding-teacher": run_embedding_teacher, "embedding": run_embedding}


def run_cell(cell: Cell, runs: Path) -> dict[str, Any]:
    return RUNNERS[cell.kind](cell, runs)
