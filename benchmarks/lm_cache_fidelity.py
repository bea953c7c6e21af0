"""What the k=64 cache loses against the teacher's full logits, on one real training batch (benchmarks/lm.py's
``cache-fidelity`` cell): a cheap mechanism-level check beside the trained-student comparison (``forward_kl-live``).

- the teacher's residual mass r = 1 − Σ_top-k p per token (mean, max), and KL(p_full ‖ p_completed) per token, where
  p_completed is the cached top-k with r spread uniformly (what ``residual: uniform`` trains against);
- the forward-KL gradient w.r.t. the (untrained, seed 0) student's logits from the full logits vs from the cache,
  per residual mode: cosine similarity and relative L2 difference over the whole (B, T, V) tensor - the direction
  the optimiser follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from kdistill.losses.token_divergence import labels_mask, token_divergence
from kdistill.losses.top_k_with_ce import fused_top_k_with_ce


def cache_fidelity(batch: dict[str, Any], cached_teacher: Any, teacher_logits: Callable,
                   make_student: Callable) -> dict[str, Any]:
    labels = batch["labels"]
    mask = labels_mask(labels)
    with torch.no_grad():
        full = teacher_logits(batch["inputs"]["input_ids"]).float()  # (B, T, V)
        student_logits = make_student()(input_ids=batch["inputs"]["input_ids"]).logits.float()
    sparse = cached_teacher(batch)  # TopKLogProbs (B, T, k)
    log_p = torch.log_softmax(full, -1)
    vocab, k = full.shape[-1], sparse.indices.shape[-1]
    residual = (1 - sparse.logprobs.float().exp().sum(-1)).clamp_min(0)[mask]  # (N,)
    completed = ((1 - sparse.logprobs.float().exp().sum(-1, keepdim=True)).clamp_min(1e-30) / (vocab - k)).log()
    completed = completed.expand_as(full).scatter(-1, sparse.indices, sparse.logprobs.float())  # (B, T, V)
    kl_full_to_completed = (log_p.exp() * (log_p - completed)).sum(-1)[mask]  # (N,)

    def gradient(compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        leaf = student_logits.clone().requires_grad_(True)
        compute(leaf).backward()
        return leaf.grad.flatten()

    reference = gradient(lambda z: token_divergence(z, full, mask, kind="forward_kl"))
    rows = {}
    for residual_mode in ("uniform", "renormalise"):
        cached = gradient(lambda z, mode=residual_mode: fused_top_k_with_ce(z, sparse, labels, residual=mode,
                                                                            with_ce=False)[0])
        rows[residual_mode] = {
            "cosine_to_full_logits_gradient": float(torch.nn.functional.cosine_similarity(cached, reference, 0)),
            "relative_l2_difference": float((cached - reference).norm() / reference.norm())}
    return {"k": k, "tokens": int(mask.sum()), "residual_mass_mean": float(residual.mean()),
            "residual_mass_max": float(residual.max()),
            "kl_full_to_uniform_completed_mean": float(kl_full_to_completed.mean()),
            "kl_full_to_uniform_completed_max": float(kl_full_to_completed.max()), "gradient": rows}
