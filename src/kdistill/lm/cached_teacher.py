"""The teacher read from a sequence cache (``kdistill.cache.sequences``): the same interface as a live teacher, for
the training blocks the cache was built over.

    teacher = CachedSequenceTeacher(SequenceCache.open(folder))
    teacher(batch)    # TopKLogProbs (B, T, k) of the blocks batch["index"] - what token_divergence takes

A cache knows the stored corpus blocks only, so it cannot score text generated during training
(``scores_new_sequences = False``: on-policy distillation refuses it up front).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdistill import distributed
from kdistill.batch import Batch, require_index
from kdistill.config import Recipe
from kdistill.errors import ShapeError
from kdistill.teachers import Teacher

log = logging.getLogger("kdistill")


class CachedSequenceTeacher(Teacher):
    """Serves the stored top-k log-probs of each batch's blocks (by ``batch["index"]``)."""

    scores_new_sequences = False

    def __init__(self, cache: Any):
        super().__init__()
        self.cache = cache
        self.num_classes = cache.vocab_size
        self.answers_top_k = cache.value_format != "full"

    def forward(self, batch: Batch) -> Any:  # TopKLogProbs, not a logits tensor
        stored = self.cache.lookup(require_index(batch, "a cached language-model teacher"))
        tokens = batch["inputs"]["input_ids"]
        if tuple(stored.indices.shape[:2]) != tuple(tokens.shape):
            raise ShapeError(f"the sequence cache holds blocks of {stored.indices.shape[1]} tokens but the batch has "
                             f"{tuple(tokens.shape)}; rebuild the cache for this block_length")
        return type(stored)(stored.logprobs.to(tokens.device), stored.indices.to(tokens.device))


class PendingCache(Teacher):
    """Stands in for a cache not built yet, so a method refuses it (e.g. on-policy) before any stage runs."""

    scores_new_sequences = False

    def __init__(self, top_k: bool = False):
        super().__init__()
        self.answers_top_k = top_k  # distill.cache.format: topk


def teacher_identity_of(model: str) -> dict[str, Any]:
    """A registered teacher's name and, for a pretrained one, the sha256 record of its converted files."""
    from kdistill.data.paths import data_dir
    from kdistill.data.pretrained import PRETRAINED
    from kdistill.data.verified_files import record_path

    identity: dict[str, Any] = {"teacher": model}
    record = record_path(data_dir() / model)
    if model in PRETRAINED and record.is_file():
        identity["pretrained_files"] = json.loads(record.read_text()).get("files")
    return identity


def teacher_identity(recipe: Recipe) -> dict[str, Any]:
    """What the cached outputs depend on besides the token blocks: the teacher (model, arguments, weights) and the
    data options."""
    return {**teacher_identity_of(recipe.teacher.model), "model_args": recipe.teacher.model_args,
            "weights": recipe.teacher.weights, "data": recipe.data.options}


def training_blocks_of(train: Any) -> torch.Tensor:
    """(N, T) token ids of a training split in index order: row i is the block a batch addresses as index i."""
    return torch.stack([train[i]["inputs"]["input_ids"] for i in range(len(train))])


def sequence_cache_teacher(recipe: Recipe, data: Any, teacher: nn.Module,
                           run_dir: Path) -> tuple[CachedSequenceTeacher, dict[str, Any]]:
    """Build (rank 0; resumed shard by shard) or reuse the recipe's sequence cache; the teacher reading it."""
    from kdistill.cache.sequences import SequenceCache, build_sequence_cache
    from kdistill.teachers import FrozenTeacher

    section = recipe.distill.cache
    folder = Path(section.dir).expanduser() if section.dir else run_dir / "teacher-cache"
    value_format, k = ("full", 1) if section.format == "full" else (section.topk_values, section.topk)
    live = FrozenTeacher(teacher)
    identity = teacher_identity(recipe)
    if distributed.context().is_main:
        # a (b, T, V) logit batch is b x 25 MB at T=128 for a 49k vocabulary: batches of eval size, not 1024
        build_sequence_cache(folder, lambda ids: live({"inputs": {"input_ids": ids}}),
                             training_blocks_of(data.streams["train"]), k=k, value_format=value_format,
                             batch_size=min(section.build_batch_size, recipe.data.eval_batch_size),
                             shard_sequences=section.shard_size, fingerprint=identity)
    distributed.barrier()
    cache = SequenceCache.open(folder, expected_fingerprint=identity)
    info = {"cache_format": value_format, "cache_k": cache.k, "cache_bytes_per_token": cache.bytes_per_token(),
            "cache_dir": str(folder)}
    log.info("sequence cache %s: k=%d %s, %.1f bytes/token", folder, cache.k, value_format, info["cache_bytes_per_token"])
    return CachedSequenceTeacher(cache), info
