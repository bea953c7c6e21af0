"""A sparse (top-k) teacher under each residual mode, against references built by hand from the mode's definition."""

import math

import pytest
import torch

from kdistill.losses.token_divergence import (
    DIVERGENCES,
    RESIDUAL_MODES,
    TopKLogProbs,
    labels_mask,
    token_divergence,
    topk_log_probs,
)
from divergence_definitions import divergence, log_softmax  # noqa: E402
from divergence_definitions import torch_divergence as textbook  # noqa: E402

B, T, V, K = 2, 4, 9, 3
LOG_TINY = math.log(torch.finfo(torch.float32).tiny)


def random_logits(*shape, scale=2.0, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def mask():
    labels = torch.arange(B * T).reshape(B, T)
    labels[1, 2:] = -100
    return labels_mask(labels)


def reference(kind, residual, student, sparse, valid, temperature=1.0, beta=0.4, skew=0.2):
    """Each mode's definition, token by token, in Python floats."""
    values = []
    for b in range(B):
        for t in range(T):
            if not valid[b, t]:
                continue
            z = student[b, t].double().tolist()
            top_logp = sparse.logprobs[b, t].double().tolist()
            top_ids = sparse.indices[b, t].tolist()
            if residual == "renormalise":
                p = [math.exp(x) for x in log_softmax(top_logp, temperature)]
                q = [math.exp(x) for x in log_softmax([z[i] for i in top_ids], temperature)]
            elif residual == "uniform":
                rest = max(0.0, 1.0 - sum(math.exp(x) for x in top_logp))
                tail = max(math.log(rest / (V - K)) if rest > 0 else -math.inf, LOG_TINY) if K < V else None
                full = [tail] * V
                for i, value in zip(top_ids, top_logp):
                    full[i] = value
                p = [math.exp(x) for x in log_softmax(full, temperature)]
                q = [math.exp(x) for x in log_softmax(z, temperature)]
            else:  # ignore: stored p_i and the student's full-softmax q_i at the top-k ids, nothing renormalised
                q_full = [math.exp(x) for x in log_softmax(z)]
                p = [math.exp(x) for x in top_logp]
                q = [q_full[i] for i in top_ids]
            values.append(divergence(kind, p, q, beta, skew))
    return temperature**2 * sum(values) / len(values)


def defined(kind, residual, beta=0.4):
    return residual != "ignore" or kind in ("forward_kl", "skew_kl", "tv") or (kind == "jsd" and beta == 0)


CASES = [(kind, residual) for kind in DIVERGENCES for residual in RESIDUAL_MODES if defined(kind, residual)]


@pytest.mark.parametrize(("kind", "residual", "temperature"),
                         [(kind, residual, temperature) for kind, residual in CASES
                          for temperature in ([1.0] if residual == "ignore" else [1.0, 2.0])])  # ignore: T = 1 only
def test_each_mode_matches_its_hand_computed_definition(kind, residual, temperature):
    student, sparse = random_logits(B, T, V, seed=1), topk_log_probs(random_logits(B, T, V, seed=2), K)
    expected = reference(kind, residual, student, sparse, mask(), temperature)
    result = token_divergence(student, sparse, mask(), kind=kind, residual=residual, temperature=temperature,
                              beta=0.4, skew=0.2, chunk_tokens=3)
    assert float(result) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(("kind", "residual"), CASES)
def test_sparse_gradient_matches_float64_autograd_of_the_definition(kind, residual):
    temperature = 1.0 if residual == "ignore" else 2.0
    student, sparse = random_logits(B, T, V, seed=10), topk_log_probs(random_logits(B, T, V, seed=11), K)
    leaf = student.clone().requires_grad_(True)
    token_divergence(leaf, sparse, mask(), kind=kind, residual=residual, temperature=temperature, beta=0.4,
                     skew=0.2, chunk_tokens=2).backward()
    z, top_logp, ids = student.double().requires_grad_(True), sparse.logprobs.double(), sparse.indices
    if residual == "renormalise":
        log_p = torch.log_softmax(top_logp / temperature, -1)
        log_q = torch.log_softmax(z.gather(-1, ids) / temperature, -1)
    elif residual == "uniform":
        tail = ((1 - top_logp.exp().sum(-1, keepdim=True)) / (V - K)).log()
        completed = tail.expand(B, T, V).scatter(-1, ids, top_logp)
        log_p, log_q = torch.log_softmax(completed / temperature, -1), torch.log_softmax(z / temperature, -1)
    else:
        log_p, log_q = top_logp, torch.log_softmax(z, -1).gather(-1, ids)
    (temperature**2 * textbook(kind, log_p, log_q)[mask()].mean()).backward()
    torch.testing.assert_close(leaf.grad.double(), z.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("residual", RESIDUAL_MODES)
@pytest.mark.parametrize("kind", DIVERGENCES)
def test_top_k_with_k_equal_v_is_the_dense_teacher(kind, residual):
    student, teacher = random_logits(B, T, V, seed=3), random_logits(B, T, V, seed=4)
    beta = 0.0 if residual == "ignore" and kind == "jsd" else 0.4
    if not defined(kind, residual, beta):
        with pytest.raises(ValueError, match="residual='renormalise'"):
            token_divergence(student, topk_log_probs(teacher, V), mask(), kind=kind, residual=residual)
        return
    temperature = 1.0 if residual == "ignore" else 2.0
    leaf_dense, leaf_sparse = student.clone().requires_grad_(True), student.clone().requires_grad_(True)
    dense = token_divergence(leaf_dense, teacher, mask(), kind=kind, beta=beta, temperature=temperature)
    sparse = token_divergence(leaf_sparse, topk_log_probs(teacher, V), mask(), kind=kind, residual=residual,
                              beta=beta, temperature=temperature)
    (dense + sparse).backward()
    assert float(sparse.detach()) == pytest.approx(float(dense.detach()), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(leaf_sparse.grad, leaf_dense.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_renormalise_reads_only_the_top_k_logits_and_equals_the_chunked_path(kind):
    """The (N, k) gather path (small k) and the chunked V-wide path (taken when N·k > chunk_tokens·V) agree."""
    student, sparse = random_logits(B, T, V, seed=8), topk_log_probs(random_logits(B, T, V, seed=9), K)
    results = []
    for chunk_tokens in (1024, 1):  # 6 positions · k=3 > 1 · V=9: the second call takes the chunked path
        leaf = student.clone().requires_grad_(True)
        loss = token_divergence(leaf, sparse, mask(), kind=kind, temperature=2.0, chunk_tokens=chunk_tokens)
        loss.backward()
        results.append((loss.detach(), leaf.grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-5, atol=1e-8)
    off_support = torch.ones_like(student, dtype=torch.bool).scatter_(-1, sparse.indices, False)
    assert (results[0][1][off_support] == 0).all()  # no gradient outside the top-k support


def test_uniform_spreads_exactly_the_missing_mass():
    """One hand-written token: V = 5, top-2 teacher p = (0.5, 0.2) -> each other token gets 0.3 / 3 = 0.1."""
    sparse = TopKLogProbs(torch.tensor([[[math.log(0.5), math.log(0.2)]]]), torch.tensor([[[3, 0]]]))
    student = torch.zeros(1, 1, 5)  # q uniform = 0.2 each
    valid = torch.ones(1, 1, dtype=torch.bool)
    p, q = [0.2, 0.1, 0.1, 0.5, 0.1], [0.2] * 5
    expected = sum(a * math.log(a / b) for a, b in zip(p, q))
    result = token_divergence(student, sparse, valid, kind="forward_kl", residual="uniform")
    assert float(result) == pytest.approx(expected, rel=1e-6)
    assert float(token_divergence(student, sparse, valid, kind="tv", residual="uniform")) == pytest.approx(0.3)
    # renormalise: p̃ = (5/7, 2/7) on ids {3, 0}, q̃ = (1/2, 1/2)
    expected_renormalised = 5 / 7 * math.log(10 / 7) + 2 / 7 * math.log(4 / 7)
    result = token_divergence(student, sparse, valid, kind="forward_kl", residual="renormalise")
    assert float(result) == pytest.approx(expected_renormalised, rel=1e-6)
    # ignore: 0.5·log(0.5/0.2) + 0.2·log(0.2/0.2)
    result = token_divergence(student, sparse, valid, kind="forward_kl", residual="ignore")
    assert float(result) == pytest.approx(0.5 * math.log(2.5), rel=1e-6)


def test_uniform_tail_is_floored_when_the_top_k_holds_all_the_mass():
    """fp16 rounding can make the stored top-k sum to >= 1; reverse KL must stay finite, not inf/NaN."""
    sparse = TopKLogProbs(torch.tensor([[[math.log(0.7), math.log(0.31)]]]), torch.tensor([[[1, 2]]]))
    student = torch.zeros(1, 1, 4).requires_grad_(True)
    loss = token_divergence(student, sparse, torch.ones(1, 1, dtype=torch.bool), kind="reverse_kl",
                            residual="uniform")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert float(loss.detach()) > 20.0  # the student's mass on the two "impossible" tokens is heavily penalised


def test_ignore_forward_kl_minimum_is_the_renormalised_top_k():
    """Documented: Σ_S p log(p/q) is minimised at q = p / Σ_S p on S (value Σ_S p · log Σ_S p < 0)."""
    top = torch.tensor([0.5, 0.3])
    sparse = TopKLogProbs(top.log().reshape(1, 1, 2), torch.tensor([[[0, 1]]]))
    valid = torch.ones(1, 1, dtype=torch.bool)
    best = torch.tensor([[[math.log(0.625), math.log(0.375), -30.0, -30.0]]])
    minimum = 0.8 * math.log(0.8)
    assert float(token_divergence(best, sparse, valid, residual="ignore")) == pytest.approx(minimum, rel=1e-5)
    near = best + torch.tensor([0.1, -0.1, 0.0, 0.0])
    assert float(token_divergence(near, sparse, valid, residual="ignore")) > minimum


@pytest.mark.parametrize("kind", ["reverse_kl", "skew_reverse_kl", "jsd"])
def test_ignore_refuses_kinds_weighted_by_the_student(kind):
    sparse = topk_log_probs(random_logits(B, T, V), K)
    with pytest.raises(ValueError, match=rf"{kind} is undefined with residual='ignore'.*'renormalise'.*'uniform'"):
        token_divergence(random_logits(B, T, V), sparse, mask(), kind=kind, residual="ignore")


def test_ignore_refuses_a_temperature():
    sparse = topk_log_probs(random_logits(B, T, V), K)
    with pytest.raises(ValueError, match="temperature 1 only"):
        token_divergence(random_logits(B, T, V), sparse, mask(), residual="ignore", temperature=2.0)


@pytest.mark.parametrize(("kind", "residual"), CASES)
def test_sparse_zero_when_student_equals_teacher(kind, residual):
    teacher = random_logits(B, T, V, seed=5)
    sparse = topk_log_probs(teacher, K)
    value = float(token_divergence(teacher, sparse, mask(), kind=kind, residual=residual))
    if residual == "uniform":  # the completed teacher has a flat tail, the student does not: positive
        assert value > 0
    else:
        assert abs(value) < 1e-6


@pytest.mark.parametrize(("kind", "residual"), CASES)
def test_sparse_masked_garbage_is_never_read(kind, residual):
    student, sparse = random_logits(B, T, V, seed=6), topk_log_probs(random_logits(B, T, V, seed=7), K)
    valid = mask()
    expected = token_divergence(student, sparse, valid, kind=kind, residual=residual)
    logprobs, indices, dirty = sparse.logprobs.clone(), sparse.indices.clone(), student.clone()
    logprobs[~valid], indices[~valid], dirty[~valid] = float("nan"), 10**6, float("nan")
    dirty.requires_grad_(True)
    loss = token_divergence(dirty, TopKLogProbs(logprobs, indices), valid, kind=kind, residual=residual)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    assert torch.isfinite(dirty.grad).all() and (dirty.grad[~valid] == 0).all()
