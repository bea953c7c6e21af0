"""The two terms of token-level LM distillation - a divergence to the teacher and next-token cross-entropy - computed
the cheapest way that gives the same values and gradients.

    terms = kd_and_ce(student_logits, teacher_output, labels, with_kd=True, with_ce=True, divergence=dict(...))
    loss = kd_weight * terms["kd"] + ce_weight * terms["ce"]

This is the one place that chooses how: ``fused_applies`` (a top-k teacher and a divergence whose gradient is a
multiple of the student's softmax plus O(k) entries) -> ``fused_top_k_with_ce``, one softmax for both terms; otherwise
``token_divergence`` and ``F.cross_entropy``, each with its own passes over the (B, T, V) logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdistill.losses.hinton import IGNORE_INDEX
from kdistill.losses.token_divergence import _check_arguments, _check_shapes, TopKLogProbs, labels_mask, token_divergence
from kdistill.losses.top_k_with_ce import fused_applies, fused_top_k_with_ce


def kd_and_ce(student_logits: torch.Tensor, teacher_output: torch.Tensor | TopKLogProbs | None, labels: torch.Tensor,
              *, with_kd: bool, with_ce: bool, divergence: dict) -> dict[str, torch.Tensor]:
    """{"kd": token_divergence(...), "ce": next-token CE} for the terms asked for, float32 scalars.

    student_logits (B, T, V); teacher_output (B, T, V) logits or TopKLogProbs (B, T, k) (unused without ``with_kd``);
    labels (B, T) next-token ids, ``IGNORE_INDEX`` where nothing is predicted (both terms skip those positions);
    ``divergence``: ``token_divergence``'s keyword arguments (kind, beta, skew, temperature, residual, chunk_tokens).
    """
    terms: dict[str, torch.Tensor] = {}
    if with_kd:
        sparse = isinstance(teacher_output, TopKLogProbs)
        arguments = {"kind": "forward_kl", "beta": 0.5, "skew": 0.1, "temperature": 1.0, "residual": "renormalise",
                     **divergence}
        _check_arguments(arguments["kind"], arguments["beta"], arguments["skew"], arguments["temperature"],
                         arguments["residual"], arguments.get("chunk_tokens", 1), sparse)
        mask = labels_mask(labels)
        _check_shapes(student_logits, teacher_output, mask)
        if fused_applies(teacher_output, arguments["kind"], arguments["beta"], arguments["temperature"],
                         arguments["residual"], student_logits):
            terms["kd"], ce = fused_top_k_with_ce(student_logits, teacher_output, labels, with_ce=with_ce,
                                                  **arguments)
            return {**terms, "ce": ce} if with_ce else terms
        terms["kd"] = token_divergence(student_logits, teacher_output, mask, **arguments)
    if with_ce:
        terms["ce"] = F.cross_entropy(student_logits.flatten(0, -2).float(), labels.flatten(),
                                      ignore_index=IGNORE_INDEX)
    return terms
