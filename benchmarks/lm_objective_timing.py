"""The LM distillation objective alone, per chunk size: which ``chunk_tokens`` to default to (benchmarks/lm.py's
``chunk-size`` cell).

Fixed student logits of one real batch (8 x 128 tokens, V = 49,152) and the k=64 cache's teacher for it; each variant
does forward + backward of its loss on a fresh leaf of those logits (no copy), rounds interleaved, one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from kdistill.lm.evaluate import median, timed
from kdistill.losses.lm_objective import kd_and_ce
from kdistill.losses.token_divergence import labels_mask, token_divergence

FUSED_CHUNKS = (8, 16, 64, 1024)
GENERAL_CHUNKS = (64, 1024)


def objective_variants(logits: torch.Tensor, teacher_output: Any, labels: torch.Tensor) -> dict[str, Callable]:
    """name -> a function doing forward + backward of one objective on a fresh leaf of ``logits`` (B, T, V)."""
    mask = labels_mask(labels)

    def leaf() -> torch.Tensor:
        return logits.detach().requires_grad_(True)

    def plain_ce() -> None:
        F.cross_entropy(leaf().flatten(0, 1), labels.flatten()).backward()

    def fused(chunk: int, with_ce: bool) -> Callable:
        def run() -> None:
            terms = kd_and_ce(leaf(), teacher_output, labels, with_kd=True, with_ce=with_ce,
                              divergence={"kind": "forward_kl", "residual": "uniform", "chunk_tokens": chunk})
            sum(terms.values()).backward()
        return run

    def general(kind: str, chunk: int) -> Callable:
        def run() -> None:
            token_divergence(leaf(), teacher_output, mask, kind=kind, residual="uniform",
                             chunk_tokens=chunk).backward()
        return run

    variants = {"next-token CE (F.cross_entropy)": plain_ce}
    variants |= {f"fused forward KL, chunk {chunk}": fused(chunk, False) for chunk in FUSED_CHUNKS}
    variants["fused forward KL + CE, chunk 16"] = fused(16, True)
    for kind in ("forward_kl", "reverse_kl"):
        variants |= {f"general {kind}, chunk {chunk}": general(kind, chunk) for chunk in GENERAL_CHUNKS}
    return variants


def chunk_size_timing(batch: dict[str, Any], cached_teacher: Any, vocab: int, make_student: Callable,
                      repeats: int) -> dict[str, Any]:
    with torch.no_grad():
        logits = make_student()(input_ids=batch["inputs"]["input_ids"]).logits.float()  # (B, T, V)
    variants = objective_variants(logits, cached_teacher(batch), batch["labels"])
    for run in variants.values():
        run()  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            seconds[name].append(timed(run))
    base = median(seconds["next-token CE (F.cross_entropy)"])
    return {"seconds": seconds, "median_seconds": {name: median(values) for name, values in seconds.items()},
            "ratio_to_next_token_ce": {name: median(values) / base for name, values in seconds.items()},
            "logits_shape": list(logits.shape), "vocab": vocab}
