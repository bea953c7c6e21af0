"""Language-model benchmark: SmolLM2-135M-Instruct -> a 4-layer, 256-wide Llama on news articles (issue 14).

Cells (each written to results/lm.json as it finishes, skipped when rerun):
- ``teacher``: the teacher's held-out perplexity.
- ``scratch/s{seed}``: the student trained on next-token cross-entropy alone; ``<kind>/s{seed}``: the same student
  (same initialisation and batch order per seed) trained on the token divergence to the teacher's top-k cache
  (k=64, fp16, residual spread uniformly), no cross-entropy. 3 seeds for scratch and forward KL, 1 for the others.
- ``cache-build``: the k=64 cache over the training blocks (seconds, bytes/token); ``bytes/k{8,32,64,full}``: bytes
  per token. ``timing``: seconds per training step of next-token training, cached distillation (fused objective:
  forward KL, + CE, renormalise + CE; with --timing-live also the general path and the live teacher), interleaved in
  one process on the same batch, median and range.
- ``rss-hwm/<variant>``: peak RSS (VmHWM) of a fresh process doing 3 such steps (older ``rss/`` cells: overstated);
  ``chunk-size``: the objective alone (forward + backward on fixed logits) per ``chunk_tokens``, fused and general.
- ``cache-fidelity``: on one training batch, the teacher's residual mass beyond the top 64, KL(full ‖ cached and
  completed uniformly) per token, and how close the forward-KL gradient from the cache is to the full logits' one.
- ``forward_kl-live/s{seed}``: as ``forward_kl/s{seed}`` but from the live teacher's full logits: does the k=64 cache
  cost student quality? ``forward_kl-k{128,256}/s{seed}``: the same from caches of the top 128 / 256 (built here);
  ``forward_kl-renormalise/s{seed}``: the k=64 cache with its tail dropped and the top 64 renormalised, no CE (the
  lm-distill builder refuses that combination since; the cell builds the strategy itself to measure it).

All on one torch thread, blocks of 128 tokens, 8 blocks per step, one epoch over ``steps x 8`` training blocks.

    OMP_NUM_THREADS=1 PYTHONPATH=src nohup python benchmarks/lm.py --steps 30 > lm.log 2>&1 &
    PYTHONPATH=src python benchmarks/lm.py --only scratch      # a subset of the cells (prefix match)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, machine, record_cell, save_results
from lm_report import cell_summary, write_markdown
from lm_steps import interleaved_steps

from kdistill.errors import CheckpointError
from kdistill.lm.evaluate import language_model_metrics, median, peak_rss_bytes

RESULTS = RESULTS_DIR / "lm.json"
TIMING_LIVE = False  # --timing-live
RUNS = Path(__file__).resolve().parent / "runs" / "lm"
SETTINGS = {"corpus": "news-articles", "block_length": 128, "batch_size": 8, "lr": 3e-3, "warmup_steps": 3,
            "weight_decay": 0.01, "grad_clip": 1.0, "test_blocks": 32, "k": 64, "residual": "uniform",
            "student": {"layers": 4, "hidden": 256, "heads": 4, "kv_heads": 2, "init": "scratch"},
            "timing_repeats": 5, "bytes_blocks": 4}
K_SWEEP = (128, 256)  # larger top-k caches than SETTINGS["k"]: how much of the gap to full logits they close
KINDS = {"forward_kl": {"kind": "forward_kl"}, "reverse_kl": {"kind": "reverse_kl"},
         "jsd": {"kind": "jsd", "beta": 0.5}, "skew_kl": {"kind": "skew_kl", "skew": 0.1}}
log = logging.getLogger("kdistill")


def cell_names(seeds: int) -> list[str]:
    """Run order: the main rows' first seed, the other losses, the remaining seeds, then costs."""
    names = ["teacher", "scratch/s0", "cache-build", "forward_kl/s0", "timing"]
    names += [f"{kind}/s0" for kind in KINDS if kind != "forward_kl"]
    for seed in range(1, seeds):
        names += [f"scratch/s{seed}", f"forward_kl/s{seed}"]
    names += [f"bytes/k{k}" for k in ("8", "32", "64", "full")]
    names += [f"rss-hwm/{variant}" for variant in ("next-token", "cached", "live")] + ["chunk-size"]
    names += ["cache-fidelity"] + [f"forward_kl-live/s{seed}" for seed in range(seeds)]
    names += [f"forward_kl-k{k}/s{seed}" for k in K_SWEEP for seed in range(seeds)]
    return names + [f"forward_kl-renormalise/s{seed}" for seed in range(seeds)]


def splits(steps: int) -> dict[str, Any]:
    from kdistill.sources import open_source

    source = open_source("lm-text", {"corpus": SETTINGS["corpus"], "tokenizer": "smollm2-135m",
                                     "block_length": SETTINGS["block_length"],
                                     "train_blocks": steps * SETTINGS["batch_size"], "val_blocks": 8,
                                     "test_blocks": SETTINGS["test_blocks"]})
    return {"train": source.open("train"), "test": source.open("test"), "vocab": source.info.num_classes}


def loader(dataset: Any, seed: int, shuffle: bool = True) -> Any:
    from kdistill.sources import source_loader

    return source_loader(dataset, SETTINGS["batch_size"], shuffle=shuffle, seed=seed)


def student(vocab: int, seed: int) -> torch.nn.Module:
    from kdistill.experiment.models import build_seeded

    shape = {"input_ids": (SETTINGS["block_length"],)}
    return build_seeded("llama-student", SETTINGS["student"], shape, vocab, seed + 1)


class StoredTeacher(torch.nn.Module):
    """The teacher's test-set log-probs, computed once (SmolLM2 takes ~50 s per batch on this shared machine) and
    served by block content: log-probs are logits of the same distribution."""

    def __init__(self, blocks: torch.Tensor, logprobs: torch.Tensor):
        super().__init__()
        self.rows = {tuple(block.tolist()): row for row, block in enumerate(blocks)}
        self.logprobs = logprobs  # (N, T, V) float16

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.logprobs[[self.rows[tuple(block.tolist())] for block in input_ids]].float()


def stored_teacher(data: dict[str, Any]) -> StoredTeacher:
    from safetensors.torch import load_file, save_file

    from kdistill.atomic import atomic_path

    path = RUNS / "teacher-test-logprobs.safetensors"
    blocks = data["test"].blocks
    if path.is_file():
        stored = load_file(str(path))
        if torch.equal(stored["blocks"], blocks):
            return StoredTeacher(blocks, stored["logprobs"])
    teacher = teacher_model(data["vocab"]).eval()
    with torch.inference_mode():
        logprobs = torch.cat([torch.log_softmax(teacher(input_ids=blocks[i:i + 8]).logits.float(), -1).half()
                              for i in range(0, len(blocks), 8)])
    with atomic_path(path) as temporary:
        save_file({"blocks": blocks.contiguous(), "logprobs": logprobs.contiguous()}, str(temporary))
    return StoredTeacher(blocks, logprobs)


def teacher_model(vocab: int) -> torch.nn.Module:
    from kdistill.models import build_model

    return build_model("smollm2-135m", {"input_ids": (SETTINGS["block_length"],)}, vocab)


def train_config(steps: int, seed: int) -> Any:
    from kdistill.training import TrainConfig

    return TrainConfig(epochs=1, batch_size=SETTINGS["batch_size"], optimizer="adamw", lr=SETTINGS["lr"],
                       weight_decay=SETTINGS["weight_decay"], schedule="cosine",
                       warmup_epochs=SETTINGS["warmup_steps"] / steps, grad_clip=SETTINGS["grad_clip"],
                       select="last", seed=seed)


def open_cache(data: dict[str, Any], steps: int, k: int = SETTINGS["k"]) -> Any:
    """The top-``k`` training cache; built here (resumably, shard by shard) if the folder lacks a complete one - the
    k=64 build's figures are the ``cache-build`` cell's."""
    from kdistill.cache.sequences import SequenceCache
    from kdistill.lm.cached_teacher import CachedSequenceTeacher

    folder = training_cache_folder(steps, k)
    try:
        return CachedSequenceTeacher(SequenceCache.open(folder, expected_fingerprint=fingerprint(steps, k)))
    except CheckpointError:
        if "train" not in data:  # a probe process: the main process builds the cache
            raise
        log.info("building the training cache %s", folder)
        build_cache(data, steps, k, None, folder)
        return CachedSequenceTeacher(SequenceCache.open(folder, expected_fingerprint=fingerprint(steps, k)))


def training_cache_folder(steps: int, k: int = SETTINGS["k"]) -> Path:
    return RUNS / f"cache-k{k}-steps{steps}"


def fingerprint(steps: int, k: int | None = SETTINGS["k"]) -> dict[str, Any]:
    """What a cache was built from; k=None (full logits) and k=64 keep the fingerprint they always had."""
    from kdistill.lm.cached_teacher import teacher_identity_of

    settings = SETTINGS if k in (None, SETTINGS["k"]) else {**SETTINGS, "k": k}
    return {**teacher_identity_of("smollm2-135m"), "settings": settings, "steps": steps}


def distill_strategy(teacher: Any, kind: str, residual: str = SETTINGS["residual"]) -> Any:
    from kdistill.strategies import build_strategy
    from kdistill.strategies.lm_distill import LanguageModelDistillation

    if residual == "renormalise":  # the builder refuses it without CE - what this cell measures: build it directly
        divergence = {"beta": 0.5, "skew": 0.1, "temperature": 1.0, **KINDS[kind], "residual": residual}
        return LanguageModelDistillation(teacher, divergence, 1.0, 0.0, 0.0, "corpus", 64, 1.0, 0)
    return build_strategy("lm-distill", teacher=teacher, residual=residual, **KINDS[kind])


def run_training(data: dict[str, Any], steps: int, name: str, seed: int) -> dict[str, Any]:
    from kdistill.strategies import build_strategy
    from kdistill.training import train

    model = student(data["vocab"], seed)
    if name == "scratch":
        strategy = build_strategy("supervised")
    elif name.endswith("-live"):  # full logits from the teacher network, no cache
        from kdistill.teachers import FrozenTeacher

        strategy = distill_strategy(FrozenTeacher(teacher_model(data["vocab"])), name.removesuffix("-live"))
    else:  # "forward_kl" (k=64 cache), "forward_kl-k128" (a larger cache), "forward_kl-renormalise" (other residual)
        renormalise = name.endswith("-renormalise")
        kind, _, k = name.removesuffix("-renormalise").partition("-k")
        strategy = distill_strategy(open_cache(data, steps, int(k) if k else SETTINGS["k"]), kind,
                                    "renormalise" if renormalise else SETTINGS["residual"])
    result = train(model, strategy, loader(data["train"], seed), None, train_config(steps, seed), progress=False,
                   desc=f"{name}/s{seed}")
    rows = language_model_metrics({"teacher": stored_teacher(data), "student": model},
                                  loader(data["test"], 0, shuffle=False))
    tokens = steps * SETTINGS["batch_size"] * SETTINGS["block_length"]
    return {**rows["student"], "train_seconds": result.seconds, "train_tokens_per_second": tokens / result.seconds,
            "final_train_loss": result.history[-1]["train_loss"], "steps": steps}


def build_cache(data: dict[str, Any], steps: int, k: int | None, blocks: int | None, folder: Path) -> dict[str, Any]:
    from kdistill.cache.sequences import build_sequence_cache
    from kdistill.lm.cached_teacher import training_blocks_of
    from kdistill.teachers import FrozenTeacher

    live = FrozenTeacher(teacher_model(data["vocab"]))
    tokens = training_blocks_of(data["train"])[:blocks]
    started = time.perf_counter()
    cache = build_sequence_cache(folder, lambda ids: live({"inputs": {"input_ids": ids}}), tokens,
                                 k=k or 1, value_format="full" if k is None else "fp16",
                                 batch_size=SETTINGS["batch_size"], shard_sequences=32,  # resumable in small steps
                                 fingerprint=fingerprint(steps, k), progress=False)
    return {"seconds": time.perf_counter() - started, "bytes_per_token": cache.bytes_per_token(), "k": cache.k,
            "sequences": len(tokens), "format": "full" if k is None else "fp16"}


def timing(data: dict[str, Any], steps: int) -> dict[str, Any]:
    """One full step (forward, backward, AdamW) of each variant per round, rounds interleaved, same batch.

    "cached" is the forward_kl rows' objective (k=64, residual uniform, no CE), which the strategy computes with the
    fused one-softmax path; "+ CE" adds next-token CE with weight 1. With ``--timing-live`` also the live teacher and
    the same cached objective through the general ``token_divergence`` path (the step before the fused path): on a
    crowded machine they cost most of the cell's time, and neither changed with the fused path."""
    from kdistill.lm.evaluate import teacher_share
    from kdistill.strategies import build_strategy
    from kdistill.teachers import FrozenTeacher

    batch = next(iter(loader(data["train"], 0)))
    cached = open_cache(data, steps)
    variants = {"next-token": build_strategy("supervised"), "cached": distill_strategy(cached, "forward_kl"),
                "cached + CE": build_strategy("lm-distill", teacher=cached, residual="uniform", ce_weight=1.0),
                "cached renormalise + CE": build_strategy("lm-distill", teacher=cached, residual="renormalise",
                                                          ce_weight=1.0)}
    live = FrozenTeacher(teacher_model(data["vocab"])) if TIMING_LIVE else None
    if live is not None:
        variants |= {"cached, general path": general_path_objective(cached), "live": distill_strategy(live,
                                                                                                     "forward_kl")}
    students = {name: student(data["vocab"], 0) for name in variants}
    seconds = interleaved_steps(variants, batch, students, train_config(steps, 0), SETTINGS["timing_repeats"])
    row = {**step_ratios(seconds), "tokens_per_second": {
        name: SETTINGS["batch_size"] * SETTINGS["block_length"] / median(values) for name, values in seconds.items()}}
    if live is not None:
        row["live_teacher_share"] = teacher_share(variants["live"], live, students["live"], batch, repeats=3)
    return row


def general_path_objective(cached: Any) -> Any:
    """The cached forward-KL objective through ``token_divergence`` (chunk 1024): the step before the fused path."""
    from kdistill.batch import forward_model
    from kdistill.losses.token_divergence import labels_mask, token_divergence

    def objective(batch: dict[str, Any], model: torch.nn.Module) -> dict[str, torch.Tensor]:
        logits = forward_model(model, batch)  # (B, T, V)
        return {"loss": token_divergence(logits, cached(batch), labels_mask(batch["labels"]), kind="forward_kl",
                                         residual="uniform", chunk_tokens=1024)}
    return objective


def step_ratios(seconds: dict[str, list[float]]) -> dict[str, Any]:
    base = median(seconds["next-token"])
    return {"seconds": seconds, "median_seconds": {name: median(values) for name, values in seconds.items()},
            "ratio_to_next_token": {name: median(values) / base for name, values in seconds.items()}}


def rss_probe(variant: str, steps: int) -> dict[str, Any]:
    """3 steps of one variant in this (fresh) process; its peak RSS."""
    from safetensors.torch import load_file

    from kdistill.strategies import build_strategy
    from kdistill.teachers import FrozenTeacher
    from kdistill.training.optim import build_optimizer

    batch = dict(load_file(str(probe_batch_path(steps))))  # written by the main process: no corpus tokenising here
    batch["inputs"] = {"input_ids": batch.pop("input_ids")}
    data = {"vocab": int(batch.pop("vocab"))}
    model = student(data["vocab"], 0)
    strategy = {"next-token": lambda: build_strategy("supervised"),
                "cached": lambda: distill_strategy(open_cache(data, steps), "forward_kl"),
                "live": lambda: distill_strategy(FrozenTeacher(teacher_model(data["vocab"])), "forward_kl")}[variant]()
    optimizer = build_optimizer(list(model.parameters()), train_config(steps, 0))
    for _ in range(3):
        loss = strategy(batch, model)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {"peak_rss_bytes": peak_rss_bytes()}


def probe_batch_path(steps: int) -> Path:
    return RUNS / f"probe-batch-steps{steps}.safetensors"


def cell_key(name: str, steps: int) -> str:
    """The teacher's perplexity does not depend on the student's step budget; every other cell does."""
    return name if name == "teacher" else f"{name}@{steps}"


def run_cell(name: str, data: dict[str, Any], steps: int) -> dict[str, Any]:
    if name == "teacher":
        return language_model_metrics({"teacher": stored_teacher(data)},
                                      loader(data["test"], 0, shuffle=False))["teacher"]
    if name == "cache-build":
        return build_cache(data, steps, SETTINGS["k"], None, training_cache_folder(steps))
    if name == "timing":
        return timing(data, steps)
    if name == "cache-fidelity":
        from lm_cache_fidelity import cache_fidelity
        from kdistill.teachers import FrozenTeacher

        live = FrozenTeacher(teacher_model(data["vocab"]))
        return cache_fidelity(next(iter(loader(data["train"], 0))), open_cache(data, steps),
                              lambda ids: live({"inputs": {"input_ids": ids}}), lambda: student(data["vocab"], 0))
    if name == "chunk-size":
        from lm_objective_timing import chunk_size_timing

        return chunk_size_timing(next(iter(loader(data["train"], 0))), open_cache(data, steps), data["vocab"],
                                 lambda: student(data["vocab"], 0), repeats=3)
    if name.startswith("bytes/"):
        k = name.split("/k")[1]
        folder = RUNS / f"bytes-{k}"
        row = build_cache(data, steps, None if k == "full" else int(k), SETTINGS["bytes_blocks"], folder)
        subprocess.run(["rm", "-rf", str(folder)], check=False)  # only the size is kept
        return row
    if name.startswith(("rss/", "rss-hwm/")):
        from safetensors.torch import save_file

        batch = next(iter(loader(data["train"], 0)))
        save_file({"input_ids": batch["inputs"]["input_ids"].contiguous(), "labels": batch["labels"].contiguous(),
                   "index": batch["index"].contiguous(), "vocab": torch.tensor(data["vocab"])},
                  str(probe_batch_path(steps)))
        command = [sys.executable, __file__, "--rss-probe", name.split("/")[1], "--steps", str(steps)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return json.loads(output.strip().splitlines()[-1])
    kind, seed = name.split("/s")
    return run_training(data, steps, kind, int(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps per cell (8 blocks of 128 tokens)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="run only cells whose name starts with these")
    parser.add_argument("--rss-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--timing-live", action="store_true",
                        help="the timing cell also times the live teacher and the general (unfused) cached path")
    args = parser.parse_args()
    global TIMING_LIVE
    TIMING_LIVE = args.timing_live
    torch.set_num_threads(1)
    if args.rss_probe:
        print(json.dumps(rss_probe(args.rss_probe, args.steps)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    RUNS.mkdir(parents=True, exist_ok=True)
    results = load_results(RESULTS)
    results["settings"] = SETTINGS
    data = splits(args.steps)
    names = [name for name in cell_names(args.seeds) if not args.only or any(name.startswith(p) for p in args.only)]
    waiting: list[str] = []  # cells that need the training cache another process is still building
    while names:
        name = names.pop(0)
        key = cell_key(name, args.steps)
        if key in load_results(RESULTS)["cells"]:
            continue
        log.info("cell %s", key)
        started = time.perf_counter()
        try:
            row = run_cell(name, data, args.steps)
        except CheckpointError as error:
            if waiting.count(name) >= 20:
                raise
            log.info("cell %s waits for the training cache (%s)", key, error)
            waiting.append(name)
            names.append(name)
            if all(other in waiting for other in names):
                time.sleep(60)
            continue
        seed = int(name.split("/s")[1]) if "/s" in name else None
        row.update(wall_seconds=time.perf_counter() - started, load_average=os.getloadavg(), machine=machine(),
                   seed=seed, finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))  # versions: provenance
        record_cell(results, key, row, seed)
        save_results(RESULTS, results)
        write_markdown(results)
        log.info("cell %s done in %.0fs: %s", key, row["wall_seconds"], cell_summary(row))


if __name__ == "__main__":
    main()
