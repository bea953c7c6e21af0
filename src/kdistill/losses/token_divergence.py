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
gradient of each chunk is computed in closed form (``kdistill.losses.divergence_terms``) during the forward pass and
written into one buffer shaped like the student's logits (``_ChunkedDivergence``): no autograd graph of V-wide
intermediates is kept until backward. A sparse teacher with ``residual="renormalise"`` reads only the student's logits
at the stored ids, (N, k), and does no V-wide work at all (whenever N·k <= chunk_tokens·V). Everything is computed in
float32 whatever the input dtype. The teacher is a constant: no gradient reaches it. A masked position is never read,
so NaN/inf garbage there changes neither the loss nor the gradient. If no position is unmasked the loss is 0 with a
zero gradient (a batch of padding is not an error).

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
from torch.autograd.function import once_differentiable

from kdistill.errors import ShapeError
from kdistill.losses.divergence_terms import divergence_and_slope, logit_gradient
from kdistill.losses.hinton import IGNORE_INDEX

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd", "skew_kl", "skew_reverse_kl", "tv")
RESIDUAL_MODES = ("ignore", "uniform", "renormalise")

# Positions per V-wide pass. 64 x 49,152 floats (12 MB) beat 1024 (200 MB) by 1.5-1.7x on the LM benchmark's batch
# (forward + reverse KL, benchmarks/results/lm.md "chunk size"): the few passes per chunk re-read it from cache.
DEFAULT_CHUNK_TOKENS = 64

# log of float32's smallest normal number: the floor of a "uniform" tail token's log-probability.
_LOG_TINY = math.log(torch.finfo(torch.float32).tiny)


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


def _tempered_log_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """log_softmax(logits / T) over the last dim; at T = 1 without the division's V-wide copy."""
    return F.log_softmax(logits if temperature == 1.0 else logits / temperature, -1)


def _completed_teacher(logprobs: torch.Tensor, indices: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """residual="uniform": (n, k) top-k -> (n, V) log-probs, the missing mass spread evenly over the V − k others."""
    completed = logprobs.new_zeros(len(logprobs), vocab_size)
    k = indices.shape[-1]
    if k < vocab_size:
        residual_mass = (1.0 - logprobs.exp().sum(-1, keepdim=True)).clamp_min(0.0)  # (n, 1)
        completed += (residual_mass / (vocab_size - k)).log().clamp_min(_LOG_TINY)
    return completed.scatter_(-1, indices, logprobs)


def _chunk_terms(student: torch.Tensor, teacher, residual: str, kind: str, beta: float, skew: float,
                 temperature: float, factor: float, want_gradient: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(Σ of the divergence over the chunk's rows, ``factor`` × its gradient w.r.t. the (c, V) float32 student logits,
    or None).

    ``teacher``: (c, V) logits, or (log-probs, ids) (c, k) of a sparse teacher.
    """
    if isinstance(teacher, torch.Tensor) or residual == "uniform":  # support: the whole vocabulary
        if isinstance(teacher, torch.Tensor):
            log_p = _tempered_log_softmax(teacher.float(), temperature)
        else:
            log_p = _tempered_log_softmax(_completed_teacher(*teacher, student.shape[-1]), temperature)
        values, slope, q = divergence_and_slope(kind, log_p, _tempered_log_softmax(student, temperature), beta, skew)
        return values.sum(), logit_gradient(slope, q, temperature, factor) if want_gradient else None
    logprobs, indices = teacher
    if residual == "renormalise":  # both restricted to the top-k support S and renormalised there: (c, k)
        log_q = _tempered_log_softmax(student.gather(-1, indices), temperature)
        values, slope, q = divergence_and_slope(kind, _tempered_log_softmax(logprobs, temperature), log_q, beta,
                                                skew)
        if not want_gradient:
            return values.sum(), None
        return values.sum(), torch.zeros_like(student).scatter_(-1, indices,
                                                                 logit_gradient(slope, q, temperature, factor))
    # ignore (T = 1): the stored p_i against the student's full-softmax q_i at the same k ids, nothing renormalised
    log_q_full = F.log_softmax(student, -1)  # (c, V)
    values, slope, _ = divergence_and_slope(kind, logprobs, log_q_full.gather(-1, indices), beta, skew)
    if not want_gradient:
        return values.sum(), None
    # ∂ℓq_S/∂z = one-hot(S) − q over V: the slope lands on the k ids, minus q times its sum everywhere
    gradient = log_q_full.exp_().mul_(-slope.sum(-1, keepdim=True)).scatter_add_(-1, indices, slope)
    return values.sum(), gradient.mul_(factor)


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


def _checked_ids(indices: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Stored token ids (n, k) as int64, all inside the student's vocabulary."""
    indices = indices.long()
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= vocab_size):
        raise ShapeError(f"sparse teacher token ids span [{int(indices.min())}, {int(indices.max())}] but the "
                         f"student's vocabulary has {vocab_size} tokens; the teacher's vocabulary is larger - "
                         "check the tokenizers with kdistill.lm.vocabulary.check_vocabularies")
    return indices


def _renormalised_top_k(student_logits: torch.Tensor, teacher: TopKLogProbs, positions: Positions, kind: str,
                        beta: float, skew: float, temperature: float, scale: float) -> torch.Tensor:
    """residual="renormalise" reading only the student's logits at the stored ids, (N, k): nothing V-wide at all.

    The closed-form gradient reaches the student through the gather, by autograd (value + (x − x.detach()) · g).
    """
    indices = _checked_ids(teacher.indices[positions], student_logits.shape[-1])  # (N, k)
    gathered = student_logits[tuple(index[:, None] for index in positions) + (indices,)].float()  # (N, k)
    with torch.no_grad():
        log_q = _tempered_log_softmax(gathered, temperature)
        log_p = _tempered_log_softmax(teacher.logprobs[positions].float(), temperature)
        values, slope, q = divergence_and_slope(kind, log_p, log_q, beta, skew)
        gradient = logit_gradient(slope, q, temperature, scale)  # (N, k)
    return values.sum() * scale + ((gathered - gathered.detach()) * gradient).sum()


class _ChunkedDivergence(torch.autograd.Function):
    """Sum of per-chunk losses whose gradient is computed chunk by chunk in forward and replayed in backward."""

    @staticmethod
    def forward(ctx, student_logits: torch.Tensor, chunk_terms: Callable, chunks: list[Positions]):
        gradient = torch.zeros_like(student_logits)  # (B, T, V) in the student's dtype, like autograd's own gradient
        total = torch.zeros((), dtype=torch.float32, device=student_logits.device)
        for positions in chunks:
            value, chunk_gradient = chunk_terms(student_logits[positions].float(), positions, True)  # (c, V)
            gradient.index_put_(positions, chunk_gradient.to(gradient.dtype))  # positions are distinct
            total = total + value
        ctx.save_for_backward(gradient)
        return total

    @staticmethod
    @once_differentiable  # the gradient is a stored tensor: no second derivative through it
    def backward(ctx, grad_output):
        (gradient,) = ctx.saved_tensors
        if grad_output.numel() == 1 and float(grad_output) == 1.0:  # loss.backward() on this loss alone: no copy
            return gradient, None, None
        return gradient * grad_output.to(gradient.dtype), None, None


def token_divergence(student_logits: torch.Tensor, teacher: torch.Tensor | TopKLogProbs, mask: torch.Tensor, *,
                     kind: str = "forward_kl", beta: float = 0.5, skew: float = 0.1, temperature: float = 1.0,
                     residual: str = "renormalise", chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
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
    if sparse and residual == "renormalise" and count * teacher.indices.shape[-1] <= chunk_tokens * vocab_size:
        return _renormalised_top_k(student_logits, teacher, positions, kind, beta, skew, temperature, scale)

    def chunk_terms(student_chunk: torch.Tensor, chunk: Positions, want_gradient: bool):
        """(scaled Σ of the divergence over one chunk of unmasked positions, its (c, V) gradient or None)."""
        if sparse:
            chunk_teacher = (teacher.logprobs[chunk].float(), _checked_ids(teacher.indices[chunk], vocab_size))
        else:
            chunk_teacher = teacher[chunk]  # (c, V)
        with torch.no_grad():
            value, gradient = _chunk_terms(student_chunk, chunk_teacher, residual, kind, beta, skew, temperature,
                                           scale, want_gradient)
        return value * scale, gradient

    chunks = [tuple(index[start : start + chunk_tokens] for index in positions)
              for start in range(0, count, chunk_tokens)]
    if student_logits.requires_grad and torch.is_grad_enabled():
        return _ChunkedDivergence.apply(student_logits, chunk_terms, chunks)
    total = torch.zeros((), dtype=torch.float32, device=student_logits.device)
    for chunk in chunks:
        total = total + chunk_terms(student_logits[chunk].float(), chunk, False)[0]
    return total
