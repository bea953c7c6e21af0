"""Data of the text benchmark: the Rotten Tomatoes splits, the augmented transfer set, the clothing-review sets.

Everything is a pure function of ``SETTINGS`` (one split for every seed; seeds vary initialisation and batch order).
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from kdistill.data.pretrained import pretrained_folder
from kdistill.data.splits import subset_indices
from kdistill.data.text_corpora import load_corpus
from kdistill.text import encode, load_tokenizer
from kdistill.text.augment import EmbeddingNeighbours, cached_transfer_set, replaceable_tokens
from kdistill.text.dataset import TokenDataset

SETTINGS: dict[str, Any] = {
    "train": 4000, "val": 1000, "test": 2000, "split_seed": 0, "max_length": 64, "batch_size": 32,
    "teacher_epochs": 2, "teacher_lr": 6e-5, "student_epochs": 2, "student_lr": 1e-4,
    "optimizer": "adamw", "weight_decay": 0.01, "schedule": "cosine", "warmup_epochs": 0.1,
    "aug_copies": 1, "aug_k": 15, "aug_probability": 0.4, "aug_seed": 0,
    "embed_train": 4000, "embed_probe_train": 2000, "embed_probe_test": 2000, "embed_epochs": 1, "embed_lr": 1e-4,
    "embed_target": "recommended", "latency_repeats": 10,
}


@contextmanager
def file_lock(path: Path):  # type: ignore[no-untyped-def]
    """Two workers that need the same derived file build it once: the second waits, then reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    return load_tokenizer(pretrained_folder("minilm-l6"))


def disjoint_stratified(labels: torch.Tensor, sizes: list[int], seed: int) -> list[torch.Tensor]:
    """Disjoint class-stratified subsets of the given sizes, drawn one after the other from what is left."""
    remaining = torch.arange(len(labels))
    parts = []
    for size in sizes:
        chosen = subset_indices(labels[remaining], size, seed)
        parts.append(remaining[chosen])
        keep = torch.ones(len(remaining), dtype=torch.bool)
        keep[chosen] = False
        remaining = remaining[keep]
    return parts


@lru_cache(maxsize=1)
def sentiment_splits() -> dict[str, TokenDataset]:
    """Rotten Tomatoes: stratified train / val / test subsets, tokenised once (padded to max_length)."""
    corpus = load_corpus("rotten-tomatoes")
    targets, _ = corpus.target("sentiment")
    labels = torch.tensor(targets, dtype=torch.long)
    parts = disjoint_stratified(labels, [SETTINGS["train"], SETTINGS["val"], SETTINGS["test"]], SETTINGS["split_seed"])
    splits = {}
    for name, index in zip(("train", "val", "test"), parts):
        tokens = encode([corpus.texts[i] for i in index.tolist()], tokenizer(), SETTINGS["max_length"])
        splits[name] = TokenDataset(tokens, labels[index])
    return splits


def augmented_train(runs: Path) -> TokenDataset:
    """The transfer set with augmentation: the training sentences, then ``aug_copies`` copies of each (labels copied
    from the original for the rows that use hard labels; the KD rows use only the teacher's outputs)."""
    train = sentiment_splits()["train"]
    weights = load_file(str(pretrained_folder("minilm-l6") / "model.safetensors"))
    replaceable, continuation = replaceable_tokens(tokenizer())
    replacer = EmbeddingNeighbours(weights["embeddings.word_embeddings.weight"], replaceable, continuation,
                                   k=SETTINGS["aug_k"], probability=SETTINGS["aug_probability"])
    with file_lock(runs / "transfer.lock"):
        copies, origin = cached_transfer_set(runs, train.tokens, SETTINGS["aug_copies"], replacer, SETTINGS["aug_seed"])
    tokens = {key: torch.cat([train.tokens[key], copies[key]]) for key in train.tokens}
    return TokenDataset(tokens, torch.cat([train.labels, train.labels[origin]]))


@lru_cache(maxsize=1)
def review_sets() -> dict[str, TokenDataset]:
    """Women's clothing reviews: an unlabelled transfer set and a labelled probe train / probe test set, disjoint."""
    corpus = load_corpus("womens-clothing")
    labels = torch.tensor(corpus.target(SETTINGS["embed_target"])[0], dtype=torch.long)
    sizes = [SETTINGS["embed_train"], SETTINGS["embed_probe_train"], SETTINGS["embed_probe_test"]]
    parts = disjoint_stratified(labels, sizes, SETTINGS["split_seed"])
    sets = {}
    for name, index in zip(("transfer", "probe_train", "probe_test"), parts):
        tokens = encode([corpus.texts[i] for i in index.tolist()], tokenizer(), SETTINGS["max_length"])
        sets[name] = TokenDataset(tokens, None if name == "transfer" else labels[index])
    return sets


class WithTeacherOutputs(TokenDataset):
    """A token dataset whose samples also carry the teacher's precomputed output (``teacher_logits``)."""

    def __init__(self, base: TokenDataset, outputs: torch.Tensor):
        super().__init__(base.tokens, base.labels if base.labelled else None)
        self.outputs = outputs

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = super().__getitem__(index)
        sample["teacher_logits"] = self.outputs[sample["index"]]
        return sample
