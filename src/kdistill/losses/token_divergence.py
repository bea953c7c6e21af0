"""Per-token divergences between a causal LM student and its teacher, chunked so a large vocabulary fits in memory.

Every position of a ``(B, T, V)`` logit tensor is one prediction. With p the teacher's and q the student's next-token
distribution at temperature T (p = softmax(z_t / T), q = softmax(z_s / T)):

    forward_kl       KL(p ‖ q) = Σ p (log p − log q)                      (Hinton; mode-covering)
    reverse_kl       KL(q ‖ p) = Σ q (log q − log p)                      (MiniLLM, Gu et al. 2024; mode-seeking)
    jsd              β·KL(p ‖ m) + (1−β)·KL(q ‖ m), m = β p + (1−β) q     (GKD, Agarwal et al. 2024), exactly TRL's
                     ``generalized_jsd_loss``: β = 0 *is* forward KL and β = 1 *is* reverse KL (special-cased there and
                     here - the mixture formula itself goes to 0 at both ends, like β·KL(p ‖ q) near β = 0).
    skew_kl          KL(p ‖ α p + (1−α) q)                                (DistiLLM, Ko et al. 2024; α = ``skew``)
    skew_reverse_kl  KL(q ‖ (1−α) p + α q)                                (DistiLLM; α = 0 gives the plain KLs)
    tv               ½ Σ |p − q|                                          (total variation)

Reduction: the mean over the unmasked positions, times T² (Hinton, Vinyals & Dean 2015: the soft-target gradient
scales as 1/T², so T² keeps its size constant as T changes). Positions are compared as given: shifting logits against
labels (position t predicts token t+1) is the caller's job, and the same shift applies to teacher and student.

Memory: the unmasked positions are gathered by index (no input is ever copied whole) ``chunk_tokens`` at a time, so no
intermediate holds more than ``chunk_tokens × V`` floats (the student's logits and their gradient exist anyway). The
gradient of each chunk is computed during the forward pass and written into one buffer shaped like the student's
logits (``_ChunkedDivergence``), so the autograd graph does not keep every chunk's ``(chunk, V)`` intermediates alive
until backward. Everything is computed in float32 whatever the input dtype. The teacher is a constant: no gradient
reaches it. A masked position is never read, so NaN/inf garbage there changes neither the loss nor the gradient. If no
position is unmasked the loss is 0 with a zero gradient (a batch of padding is not an error).

A sparse teacher (``TopKLogProbs``, e.g. from the sequence cache) stores only the k most likely tokens' log-probs
log p_i (full softmax, temperature 1). The missing mass r = 1 − Σ_topk p_i is handled by ``residual``:

    "renormalise"  (default) both distributions are restricted to the top-k support S and renormalised there:
                   p̃ = softmax(log p_S / T), q̃ = softmax(z_s[S] / T). All six divergences are then proper divergences
                   of two distributions on S (zero iff q̃ = p̃, reverse KL and JSD defined). The price: the student's
                   mass outside S gets no gradient from this term - pair it with the next-token cross-entropy, or use
                   "uniform" when the tail matters. Chosen because it is the only option under which every kind is
                   defined and vanishes exactly when the student matches the teacher on S.
    "uniform"      the teacher's distribution is completed over all V tokens: each of the V − k others gets
                   r / (V − k), r clamped to >= 0, the per-token tail floored at float32's smallest normal (≈ e^-87) so
                   reverse-KL kinds stay finite when the stored top-k already holds all the mass (fp16 rounding).
                   Tempering applies to this completed distribution; every kind is then computed over V.
    "ignore"       the sum runs over the top-k terms only, with nothing renormalised (DistillKit's sparse KL):
                   forward_kl Σ_S p (log p − log q), skew_kl Σ_S p (log p − log(α p + (1−α) q)), tv ½ Σ_S |p − q|,
                   with q the student's full softmax. forward_kl can be negative here (its minimum, Σ_S p · log Σ_S p,
                   is reached at q = p / Σ_S p on S and 0 elsewhere); tv is a lower bound of the full TV. reverse_kl,
                   skew_reverse_kl and jsd with β > 0 weigh tokens by q, including tokens whose p is unknown, so they
                   raise. The stored p are defined at temperature 1 only, so a temperature other than 1 raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kdistill.errors import ShapeError
from kdistill.losses.hinton import IGNORE_INDEX

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd", "skew_kl", "skew_reverse_kl", "tv")
RESIDUAL_MODES = ("ignore", "uniform", "renormalise")

# log of float32's smallest normal number: the floor of a "uniform" tail token's log-probability.
_LOG_TINY = math.log(torch.finfo(torch.float32).tiny)
_FLOAT32_MIN = torch.finfo(torch.float32).min


@dataclass(frozen=True)
class TopKLogProbs:
    """A sparse teacher: the k most likely tokens per position.

    ``logprobs`` (B, T, k) float32 log-probabilities under the teacher's FULL softmax at temperature 1 (so
    Σ exp(logprobs) <= 1; the rest is the residual mass); ``indices`` (B, T, k) int64 token ids.
    """

    logprobs: torch.Tensor
    indices: torch.Tensor


def topk_log_probs(teacher_logits: torch.Tensor, k: int) -> TopKLogProbs:
    """The top-k of log_softmax(teacher_logits) in float32: (B, T, V) -> TopKLogProbs with (B, T, k) tensors."""
    vocab_size = teacher_logits.shape[-1]
    if not 1 <= k <= vocab_size:
        raise ValueError(f"k must be in [1, {vocab_size}] (the vocabulary size), got {k}")
    values, indices = torch.log_softmax(teacher_logits.detach().float(), dim=-1).topk(k, dim=-1)
    return TopKLogProbs(logprobs=values, indices=indices)


def labels_mask(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(B, T) bool: True where the token counts (its label is not ``ignore_index``)."""
    return labels != ignore_index


def _finite(log_probs: torch.Tensor) -> torch.Tensor:
    # -inf log-probs (a logit of -inf) become float32's lowest value: 0 · (−inf) would be NaN, 0 · (lowest) is 0.
    return log_probs.clamp_min(_FLOAT32_MIN)


def _kl_terms(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """Σ a (log a − log b) over the last dim: (n, S) -> (n,)."""
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def _log_mixture(log_a: torch.Tensor, log_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """log(w a + (1 − w) b), stably; w in [0, 1]."""
    if weight_a == 0.0:
        return log_b
    if weight_a == 1.0:
        return log_a
    return torch.logaddexp(log_a + math.log(weight_a), log_b + math.log1p(-weight_a))


def _per_token(kind: str, log_p: torch.Tensor, log_q: torch.Tensor, beta: float, skew: float) -> torch.Tensor:
    """Divergence per row from teacher log-probs ``log_p`` and student log-probs ``log_q`` on one support (n, S)."""
    log_p, log_q = _finite(log_p), _finite(log_q)
    if kind == "forward_kl" or (kind == "jsd" and beta == 0.0):
        return _kl_terms(log_p, log_q)
    if kind == "reverse_kl" or (kind == "jsd" and beta == 1.0):
        return _kl_terms(log_q, log_p)
    if kind == "jsd":
        log_m = _log_mixture(log_p, log_q, beta)
        return beta * _kl_terms(log_p, log_m) + (1.0 - beta) * _kl_terms(log_q, log_m)
    if kind == "skew_kl":
        return _kl_terms(log_p, _log_mixture(log_p, log_q, skew))
    if kind == "skew_reverse_kl":
        return _kl_terms(log_q, _log_mixture(log_q, log_p, skew))
    return 0.5 * (log_p.exp() - log_q.exp()).abs().sum(-1)  # tv


def _dense_log_probs(student: torch.Tensor, teacher: torch.Tensor, temperature: float):
    """(n, V) student and teacher logits -> tempered log-probs over V."""
    return F.log_softmax(teacher.float() / temperature, -1), F.log_softmax(student / temperature, -1)


def _sparse_log_probs(student: torch.Tensor, logprobs: torch.Tensor, indices: torch.Tensor, residual: str,
                      temperature: float):
    """(n, V) student logits, (n, k) teacher top-k -> (log p, log q) on the support the residual mode defines."""
    logprobs = logprobs.float()
    if residual == "renormalise":  # both restricted to S = the top-k, renormalised there: (n, k)
        return F.log_softmax(logprobs / temperature, -1), F.log_softmax(student.gather(-1, indices) / temperature, -1)
    if residual == "ignore":  # the stored p_i and the student's full-softmax q_i at the same k tokens: (n, k)
        return logprobs, F.log_softmax(student, -1).gather(-1, indices)
    # uniform: complete the teacher over V with the residual mass spread over the V - k other tokens: (n, V)
    vocab_size, k = student.shape[-1], indices.shape[-1]
    completed = torch.zeros_like(student)
    if k < vocab_size:
        residual_mass = (1.0 - logprobs.exp().sum(-1, keepdim=True)).clamp_min(0.0)  # (n, 1)
        tail = (residual_mass / (vocab_size - k)).log().clamp_min(_LOG_TINY)
        completed += tail
    completed.scatter_(-1, indices, logprobs)
    return F.log_softmax(completed / temperature, -1), F.log_softmax(student / temperature, -1)


def _check_arguments(kind: str, beta: float, skew: float, temperature: float, residual: str, chunk_tokens: int,
                     sparse: bool) -> None:
    if kind not in DIVERGENCES:
        raise ValueError(f"unknown divergence {kind!r}; choose one of {', '.join(DIVERGENCES)}")
    if residual not in RESIDUAL_MODES:
        raise ValueError(f"unknown residual mode {residual!r}; choose one of {', '.join(RESIDUAL_MODES)}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1] (0 = forward KL, 1 = reverse KL), got {beta}")
    if not 0.0 <= skew < 1.0:
        raise ValueError(f"skew must be in [0, 1) (0 = plain KL; 1 makes the divergence identically 0), got {skew}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not (isinstance(chunk_tokens, int) and chunk_tokens >= 1):
        raise ValueError(f"chunk_tokens must be a positive integer, got {chunk_tokens!r}")
    if sparse and residual == "ignore":
        weighs_by_student = kind in ("reverse_kl", "skew_reverse_kl") or (kind == "jsd" and beta > 0.0)
        if weighs_by_student:
            raise ValueError(
                f"{kind} is undefined with residual='ignore': it weighs every token by the student's probability, "
                "including tokens whose teacher probability was not stored; use residual='renormalise' (top-k "
                "support) or residual='uniform' (tail spread evenly), or kind='forward_kl'/'skew_kl'/'tv'")
        if temperature != 1.0:
            raise ValueError(
                f"residual='ignore' uses the stored top-k probabilities, defined at temperature 1 only; "
                f"temperature={temperature} needs the tail's shape: use residual='renormalise' or 'uniform'")


def _check_shapes(student_logits: torch.Tensor, teacher, mask: torch.Tensor) -> None:
    if student_logits.dim() < 2:
        raise ShapeError(f"student logits must be (batch, time, vocab), got {tuple(student_logits.shape)}")
    positions, vocab_size = student_logits.shape[:-1], student_logits.shape[-1]
    if mask.shape != positions:
        raise ShapeError(f"mask {tuple(mask.shape)} must match the student logits' positions {tuple(positions)} "
                         f"(student logits {tuple(student_logits.shape)})")
    if mask.dtype != torch.bool:
        raise ShapeError(f"mask must be a bool tensor (True = token counts), got {mask.dtype}; "
                         "build it from labels with labels_mask(labels)")
    alignment_hint = ("check the tokenizers with kdistill.lm.vocabulary.check_vocabularies and slice both logits "
                      "with the VocabularyAlignment it returns (align='shared-prefix' when one vocabulary extends "
                      "the other)")
    if isinstance(teacher, TopKLogProbs):
        if teacher.logprobs.shape != teacher.indices.shape or teacher.logprobs.shape[:-1] != positions:
            raise ShapeError(f"sparse teacher logprobs {tuple(teacher.logprobs.shape)} and indices "
                             f"{tuple(teacher.indices.shape)} must both be (*positions, k) with positions "
                             f"{tuple(positions)} of the student logits {tuple(student_logits.shape)}")
        if teacher.logprobs.shape[-1] > vocab_size:
            raise ShapeError(f"sparse teacher stores k={teacher.logprobs.shape[-1]} tokens per position but the "
                             f"student's vocabulary has only {vocab_size}; {alignment_hint}")
        return
    if teacher.shape != student_logits.shape:
        if teacher.shape[:-1] == positions:
            raise ShapeError(f"teacher vocabulary size {teacher.shape[-1]} differs from the student's {vocab_size}; "
                             f"{alignment_hint}")
        raise ShapeError(f"teacher logits {tuple(teacher.shape)} and student logits {tuple(student_logits.shape)} "
                         "differ; both must be (batch, time, vocab) for the same batch")


Positions = tuple[torch.Tensor, ...]  # one (c,) index tensor per leading dim: ``logits[positions]`` is (c, V)


class _ChunkedDivergence(torch.autograd.Function):
    """Sum of per-chunk losses whose gradient is computed chunk by chunk in forward and replayed in backward."""

    @staticmethod
    def forward(ctx, student_logits: torch.Tensor, chunk_loss: Callable, chunks: list[Positions]):
        gradient = torch.zeros_like(student_logits)  # (B, T, V) in the student's dtype, like autograd's own gradient
        total = torch.zeros((), dtype=torch.float32, device=student_logits.device)
        for positions in chunks:
            with torch.enable_grad():
                chunk = student_logits[positions].detach().float().requires_grad_(True)  # (c, V)
                value = chunk_loss(chunk, positions)
                (chunk_gradient,) = torch.autograd.grad(value, chunk)
            gradient.index_put_(positions, chunk_gradient.to(gradient.dtype))  # positions are distinct
            total = total + value.detach()
        ctx.save_for_backward(gradient)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        (gradient,) = ctx.saved_tensors
        return gradient * grad_output.to(gradient.dtype), None, None


def token_divergence(student_logits: torch.Tensor, teacher: torch.Tensor | TopKLogProbs, mask: torch.Tensor, *,
                     kind: str = "forward_kl", beta: float = 0.5, skew: float = 0.1, temperature: float = 1.0,
                     residual: str = "renormalise", chunk_tokens: int = 1024) -> torch.Tensor:
    """T² · mean over unmasked positions of the per-token ``kind`` divergence (module docstring has the formulas).

    student_logits (B, T, V) any float dtype; teacher (B, T, V) logits or a ``TopKLogProbs`` (B, T, k); mask (B, T)
    bool, True = the position counts (``labels_mask(labels)``). Returns a float32 scalar; 0 when nothing is unmasked.
    ``beta`` is the JSD weight (0 forward, 1 reverse KL, as TRL's GKD), ``skew`` DistiLLM's α, ``residual`` how a
    sparse teacher's missing mass is treated (ignored for a dense teacher). Inputs may be non-contiguous (a vocabulary
    slice, broadcast indices): positions are gathered from them directly, never copied whole.
    """
    sparse = isinstance(teacher, TopKLogProbs)
    _check_arguments(kind, beta, skew, temperature, residual, chunk_tokens, sparse)
    _check_shapes(student_logits, teacher, mask)
    vocab_size = student_logits.shape[-1]
    positions = mask.nonzero(as_tuple=True)  # unmasked positions, row-major; masked ones are never read
    count = positions[0].numel()  # 0 -> no chunks: the loss is 0 and its gradient is zero
    scale = temperature**2 / max(count, 1)
    teacher = teacher if sparse else teacher.detach()

    def chunk_loss(student_chunk: torch.Tensor, chunk: Positions) -> torch.Tensor:
        """Scaled sum of the divergence over one chunk of unmasked positions: (c, V) float32 -> scalar."""
        if not sparse:
            log_p, log_q = _dense_log_probs(student_chunk, teacher[chunk], temperature)
            return _per_token(kind, log_p, log_q, beta, skew).sum() * scale
        indices = teacher.indices[chunk].long()  # (c, k)
        if int(indices.min()) < 0 or int(indices.max()) >= vocab_size:
            raise ShapeError(f"sparse teacher token ids span [{int(indices.min())}, {int(indices.max())}] but the "
                             f"student's vocabulary has {vocab_size} tokens; the teacher's vocabulary is larger - "
                             "check the tokenizers with kdistill.lm.vocabulary.check_vocabularies")
        log_p, log_q = _sparse_log_probs(student_chunk, teacher.logprobs[chunk], indices, residual, temperature)
        return _per_token(kind, log_p, log_q, beta, skew).sum() * scale

    chunks = [tuple(index[start : start + chunk_tokens] for index in positions)
              for start in range(0, count, chunk_tokens)]
    if student_logits.requires_grad and torch.is_grad_enabled():
        return _ChunkedDivergence.apply(student_logits, chunk_loss, chunks)
    with torch.no_grad():
        total = torch.zeros((), dtype=torch.float32, device=student_logits.device)
        for chunk in chunks:
            total = total + chunk_loss(student_logits[chunk].float(), chunk)
        return total
