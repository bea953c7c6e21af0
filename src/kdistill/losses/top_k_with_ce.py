"""Next-token cross-entropy and a divergence to a sparse (top-k) teacher from ONE softmax of the student's logits.

With a vocabulary of 49k tokens the student's (B, T, V) logits dominate a language-model step, and every V-wide pass
over them costs about as much as the next-token loss's own. Against a top-k teacher (``TopKLogProbs``) the
divergences below touch the V - k other logits only through the student's log-normaliser lse(z / T) (and, for the
uniform residual, Σ z), so their value needs per row: lse, Σ z and gathers at the k stored ids and the label. Their
gradient w.r.t. one position's logits z (V,) is a multiple of softmax(z / T), a constant and O(k) sparse entries:

    CE(y)                            softmax(z) − onehot(y)
    residual "ignore" (T = 1)        −Σa · softmax(z) + scatter_S(a),            a = ∂D/∂ℓq_S (k-wide, any defined kind)
    residual "renormalise"           scatter_S(∂D/∂z_S)                          (k-wide, any kind)
    residual "uniform", forward KL   (softmax(z / T) − u − scatter_S(p_S − u)) / T,   u the teacher's tail probability

So ``kd · D + ce · CE`` costs one softmax of the student - exactly the next-token loss alone - plus O(k) gathers and
scatters (and a second softmax only for "uniform" at T != 1 together with CE). The forward pass computes each chunk's
log-normalisers and keeps only per-row coefficients and the (N, k + 1) sparse entries; backward rebuilds the gradient
chunk by chunk from the student's logits, which stay alive anyway (the strategy returns them). ``F.cross_entropy``
saves its (N, V) log-softmax; this saves nothing V-wide.

Which (kind, residual, temperature) this covers, and so when ``kd_and_ce`` uses it instead of ``token_divergence`` +
``F.cross_entropy``, is decided by ``fused_applies`` and nothing else. Values and gradients equal the general path's
(tests against the same float64 references); masked positions (label == ``ignore_index``) contribute nothing, even
when their logits are NaN; with no unmasked position both terms are 0 (``F.cross_entropy`` would give NaN).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from kdistill.errors import ShapeError
from kdistill.losses.divergence_terms import divergence_and_slope, finite_, logit_gradient
from kdistill.losses.token_divergence import _LOG_TINY, TopKLogProbs, _checked_ids

# Rows of (rows, V) float32 per pass: 16 x 49,152 x 4 bytes = 3 MB stays in cache between the few passes over each
# chunk. Measured (benchmarks/results/lm.md, "chunk size"): 8 and 16 within noise, 64 ~7% and 1024 ~25% slower.
DEFAULT_CHUNK_TOKENS = 16


def fused_applies(teacher, kind: str, beta: float, temperature: float, residual: str, logits: torch.Tensor) -> bool:
    """Whether ``fused_top_k_with_ce`` computes this divergence (else: ``token_divergence`` + ``F.cross_entropy``).

    A sparse teacher; "renormalise" and "ignore" for every kind they define (the divergence itself is k-wide),
    "uniform" for forward KL (jsd with beta = 0) only - the other kinds weigh each of the V − k tail tokens by its own
    student probability, which needs V-wide passes; and student logits whose leading dims view as rows (N, V).
    """
    if not isinstance(teacher, TopKLogProbs) or _rows_view(logits) is None:
        return False
    if residual == "uniform":
        return kind == "forward_kl" or (kind == "jsd" and beta == 0.0)
    return residual == "renormalise" or temperature == 1.0  # ignore: token_divergence raises for other T


def _rows_view(logits: torch.Tensor) -> torch.Tensor | None:
    """(B·T, V) view of (B, T, V) logits (a vocabulary slice of a contiguous tensor qualifies), or None."""
    if logits.dim() < 2 or logits.stride(-1) != 1:
        return None
    try:
        return logits.view(-1, logits.shape[-1])
    except RuntimeError:
        return None


class _Plan:
    """Per-row terms of the gradient, for one unit of each output (kd, ce): Σ_t coefficients[t] · softmax(z / t)
    − constant + entries (ids, values). Rows are all B·T positions; masked rows have zero coefficients."""

    def __init__(self, rows: int, vocab_size: int, chunk_tokens: int):
        self.rows, self.vocab_size, self.chunk_tokens = rows, vocab_size, chunk_tokens
        self.valid: torch.Tensor  # (rows,) bool
        self.positions: torch.Tensor  # (N,) unmasked row ids, ascending
        self.log_normalisers: dict[float, torch.Tensor] = {}  # temperature -> (rows,) lse(z / t)
        self.kd_coefficients: dict[float, torch.Tensor] = {}  # temperature -> (N,)
        self.ce_coefficient = 0.0  # on softmax(z) for every unmasked row
        self.kd_constant: torch.Tensor | None = None  # (N,) subtracted from every logit's gradient
        self.kd_entries: tuple[torch.Tensor, torch.Tensor] | None = None  # ids (N, k), values (N, k)
        self.labels: torch.Tensor | None = None  # (N,) CE's -onehot entries, value -ce_coefficient


def _chunks(rows: int, chunk_tokens: int):
    return [(start, min(start + chunk_tokens, rows)) for start in range(0, rows, chunk_tokens)]


def _row_statistics(rows_view: torch.Tensor, temperatures: set[float], with_sum: bool, chunk_tokens: int,
                    ) -> tuple[dict[float, torch.Tensor], torch.Tensor | None]:
    """({t: lse(z / t) (rows,)}, Σ z (rows,) or None), chunk by chunk so each chunk is read while in cache."""
    log_normalisers = {t: rows_view.new_empty(len(rows_view), dtype=torch.float32) for t in temperatures}
    sums = rows_view.new_empty(len(rows_view), dtype=torch.float32) if with_sum else None
    for start, end in _chunks(len(rows_view), chunk_tokens):
        block = rows_view[start:end].float()  # (c, V), a view for float32 logits
        for t, lse in log_normalisers.items():
            lse[start:end] = torch.logsumexp(block if t == 1.0 else block / t, -1)
        if sums is not None:
            sums[start:end] = block.sum(-1)
    return log_normalisers, sums


def _plan(logits: torch.Tensor, teacher: TopKLogProbs, labels: torch.Tensor, ignore_index: int, with_ce: bool,
          kind: str, beta: float, skew: float, temperature: float, residual: str, chunk_tokens: int,
          ) -> tuple[_Plan, torch.Tensor, torch.Tensor]:
    """(gradient plan, kd value, ce value or 0 without ``with_ce``) - all V-wide work is in ``_row_statistics``."""
    rows_view = _rows_view(logits)
    vocab_size = logits.shape[-1]
    plan = _Plan(len(rows_view), vocab_size, chunk_tokens)
    plan.valid = (labels != ignore_index).flatten()  # (rows,)
    plan.positions = plan.valid.nonzero().squeeze(1)  # (N,)
    count = len(plan.positions)
    labels_kept = labels.flatten()[plan.positions]  # (N,)
    if count and (int(labels_kept.min()) < 0 or int(labels_kept.max()) >= vocab_size):
        raise ShapeError(f"labels span [{int(labels_kept.min())}, {int(labels_kept.max())}] outside the student's "
                         f"vocabulary of {vocab_size} tokens (masked positions must be {ignore_index})")
    ids = _checked_ids(teacher.indices.reshape(-1, teacher.indices.shape[-1])[plan.positions], vocab_size)  # (N, k)
    top_logprobs = teacher.logprobs.reshape(-1, ids.shape[-1])[plan.positions].float()  # (N, k)
    temperatures = ({1.0} if with_ce or residual == "ignore" else set()) | (
        {temperature} if residual == "uniform" else set())
    log_normalisers, sums = _row_statistics(rows_view, temperatures, residual == "uniform", chunk_tokens)
    plan.log_normalisers = log_normalisers
    rows = plan.positions[:, None]
    at_ids = rows_view[rows, ids].float()  # (N, k) student logits at the stored ids
    scale_ce, scale_kd = 1.0 / max(count, 1), temperature**2 / max(count, 1)
    lse = log_normalisers[1.0][plan.positions] if 1.0 in log_normalisers else None  # (N,)
    ce = torch.zeros((), dtype=torch.float32, device=logits.device)
    if with_ce:
        ce = (lse - rows_view[plan.positions, labels_kept].float()).sum() * scale_ce
        plan.ce_coefficient, plan.labels = scale_ce, labels_kept
    if residual == "renormalise":
        log_q = F.log_softmax(at_ids / temperature, -1)
        values, slope, q = divergence_and_slope(kind, F.log_softmax(top_logprobs / temperature, -1), log_q, beta,
                                                skew)
        plan.kd_entries = ids, logit_gradient(slope, q, temperature, scale_kd)
    elif residual == "ignore":  # T = 1: the stored p_i against the student's full softmax at the same ids
        values, slope, _ = divergence_and_slope(kind, top_logprobs.clone(), at_ids - lse[:, None], beta, skew)
        plan.kd_coefficients[1.0] = -slope.sum(-1) * scale_kd
        plan.kd_entries = ids, slope * scale_kd
    else:  # uniform, forward KL
        values, tail, at_stored = _uniform_forward_kl(top_logprobs, at_ids, log_normalisers[temperature]
                                                      [plan.positions], sums[plan.positions], vocab_size, temperature)
        plan.kd_coefficients[temperature] = torch.full_like(values, scale_kd / temperature)
        plan.kd_constant = tail * (scale_kd / temperature)
        plan.kd_entries = ids, at_stored.mul_(-scale_kd / temperature)
    return plan, values.sum() * scale_kd, ce


def _uniform_forward_kl(top_logprobs: torch.Tensor, at_ids: torch.Tensor, lse: torch.Tensor, sums: torch.Tensor,
                        vocab_size: int, temperature: float):
    """KL(p ‖ q) with p the teacher completed uniformly (each of the V − k others gets r / (V − k), floored at
    e^-87 in log space as ``token_divergence`` does) and tempered, q = softmax(z / T), from k-wide data.

    Returns (D (N,), u (N,) the tempered tail probability, p_S − u (N, k)).
    """
    k = top_logprobs.shape[-1]
    tail_count = vocab_size - k
    scaled = top_logprobs / temperature  # (N, k)
    if tail_count:
        residual_mass = (1.0 - top_logprobs.exp().sum(-1)).clamp_min(0.0)  # (N,)
        log_tail = (residual_mass / tail_count).log().clamp_min(_LOG_TINY) / temperature  # (N,) before normalising
        normaliser = torch.logsumexp(torch.cat([scaled, (log_tail + math.log(tail_count))[:, None]], -1), -1)
        log_u = log_tail - normaliser
        u = log_u.exp()
    else:
        normaliser = torch.logsumexp(scaled, -1)
        log_u = u = torch.zeros_like(normaliser)
    log_p = finite_(scaled - normaliser[:, None])  # (N, k) tempered teacher log-probs at the stored ids
    p = log_p.exp()
    log_q = finite_(at_ids / temperature - lse[:, None])  # (N, k)
    # Σ over the V − k tail tokens of u (log u − log q_j) = u ((V − k)(log u + lse) − (Σ z − Σ_S z) / T)
    tail_sum = u * (tail_count * (log_u + lse) - (sums - at_ids.sum(-1)) / temperature)
    values = (p * (log_p - log_q)).sum(-1) + tail_sum
    return values, u, p - u[:, None]


class _FusedTopKWithCE(torch.autograd.Function):
    """(kd, ce) values; backward rebuilds the logits' gradient chunk by chunk from the saved ``_Plan``."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, arguments: tuple):
        plan, kd, ce = _plan(logits, *arguments)
        ctx.plan = plan
        ctx.save_for_backward(logits)
        return torch.stack([kd, ce])

    @staticmethod
    @once_differentiable  # the gradient is built from stored per-row terms: no second derivative through it
    def backward(ctx, grad_values):
        (logits,) = ctx.saved_tensors
        plan: _Plan = ctx.plan
        kd_weight, ce_weight = grad_values.float().unbind()
        device = logits.device
        coefficients = {t: torch.zeros(plan.rows, dtype=torch.float32, device=device) for t in plan.log_normalisers}
        if plan.labels is not None:
            coefficients[1.0][plan.positions] = ce_weight * plan.ce_coefficient
        for t, values in plan.kd_coefficients.items():
            coefficients[t].index_add_(0, plan.positions, values * kd_weight)
        constant = None
        if plan.kd_constant is not None:
            constant = torch.zeros(plan.rows, dtype=torch.float32, device=device).index_copy_(
                0, plan.positions, plan.kd_constant * kd_weight)
        ids, values = plan.kd_entries[0], plan.kd_entries[1] * kd_weight  # (N, k)
        if plan.labels is not None:  # CE's −onehot(y); the label may repeat a stored id (entries accumulate)
            ids = torch.cat([ids, plan.labels[:, None]], -1)
            values = torch.cat([values, (-ce_weight * plan.ce_coefficient).expand(len(ids), 1)], -1)
        gradient = torch.empty(logits.shape, dtype=logits.dtype, device=device)  # (B, T, V) contiguous
        _fill_gradient(_rows_view(logits), gradient.view(plan.rows, -1), plan, coefficients, constant, ids, values)
        return gradient, None


def _fill_gradient(rows_view: torch.Tensor, gradient_rows: torch.Tensor, plan: _Plan, coefficients: dict,
                   constant: torch.Tensor | None, ids: torch.Tensor, values: torch.Tensor) -> None:
    """Fill ``gradient_rows`` (rows, V) chunk by chunk: Σ_t c_t · softmax(z / t) − constant, then the sparse entries
    (ids, values) (N, ·) of the unmasked rows; masked rows exactly 0 (their logits may be garbage)."""
    chunks = _chunks(plan.rows, plan.chunk_tokens)
    # unmasked rows of chunk i: plan.positions[bounds[i]:bounds[i + 1]]
    starts = torch.tensor([start for start, _ in chunks] + [plan.rows], device=plan.positions.device)
    bounds = torch.searchsorted(plan.positions, starts).tolist()
    for number, (start, end) in enumerate(chunks):
        block = rows_view[start:end].float()  # (c, V), a view for float32 logits
        out = gradient_rows[start:end] if gradient_rows.dtype == torch.float32 else torch.empty_like(block)
        if not coefficients:
            out.zero_()
        for number_t, (t, coefficient) in enumerate(coefficients.items()):
            target = out if number_t == 0 else torch.empty_like(block)
            _scaled_softmax(block, t, plan.log_normalisers[t][start:end, None], coefficient[start:end, None], target)
            if number_t:
                out.add_(target)
        if constant is not None:
            out.sub_(constant[start:end, None])
        masked = (~plan.valid[start:end]).nonzero().squeeze(1)
        if len(masked):
            out.index_fill_(0, masked, 0.0)
        first, last = bounds[number], bounds[number + 1]
        if last > first:
            local_rows = (plan.positions[first:last] - start)[:, None]
            out.index_put_((local_rows, ids[first:last]), values[first:last], accumulate=True)
        if gradient_rows.dtype != torch.float32:
            gradient_rows[start:end] = out


def _scaled_softmax(block: torch.Tensor, temperature: float, lse: torch.Tensor, coefficient: torch.Tensor,
                    out: torch.Tensor) -> None:
    """out = c · softmax(block / t) = sign(c) · exp((block − t · (lse − log|c|)) / t): (c, V), two passes at t = 1.
    A zero c gives exp(−inf) = 0."""
    shift = lse - coefficient.abs().log()  # (c, 1)
    if temperature == 1.0:
        torch.sub(block, shift, out=out).exp_()
    else:
        torch.sub(block, shift * temperature, out=out).div_(temperature).exp_()
    if bool((coefficient < 0).any()):
        out.mul_(coefficient.sign())


def fused_top_k_with_ce(logits: torch.Tensor, teacher: TopKLogProbs, labels: torch.Tensor, *, kind: str = "forward_kl",
                        beta: float = 0.5, skew: float = 0.1, temperature: float = 1.0, residual: str = "renormalise",
                        chunk_tokens: int = DEFAULT_CHUNK_TOKENS, ignore_index: int = -100, with_ce: bool = True,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """(token_divergence(logits, teacher, labels != ignore_index, ...), F.cross_entropy(logits, labels)) as float32
    scalars, sharing one softmax of ``logits`` (B, T, V); ``teacher`` (B, T, k); ``labels`` (B, T). Without
    ``with_ce`` the second is 0 and nothing is computed for it.

    Only for what ``fused_applies`` accepts; arguments are checked by the caller (``kd_and_ce``).
    """
    arguments = (teacher, labels, ignore_index, with_ce, kind, beta, skew, temperature, residual, chunk_tokens)
    if logits.requires_grad and torch.is_grad_enabled():
        kd, ce = _FusedTopKWithCE.apply(logits, arguments).unbind()
        return kd, ce
    with torch.no_grad():
        _, kd, ce = _plan(logits, *arguments)
    return kd, ce
