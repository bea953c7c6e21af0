"""CE + divergence to a top-k teacher from one softmax (``kd_and_ce``'s fused path) against float64 autograd of the
definitions, the general path, chunking, masks and memory."""

import pytest
import torch
import torch.nn.functional as F

from kdistill.losses import lm_objective
from kdistill.losses.lm_objective import kd_and_ce
from kdistill.losses.token_divergence import DIVERGENCES, TopKLogProbs, labels_mask, token_divergence, topk_log_probs
from kdistill.losses.top_k_with_ce import fused_applies
from divergence_definitions import torch_divergence as textbook  # noqa: E402

B, T, V, K = 3, 5, 13, 4


def random_logits(*shape, scale=2.5, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def example_labels(seed=0):
    labels = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))
    labels[0, 3:] = -100
    labels[2, 1:] = -100
    return labels


def fused_cases():
    """Every (kind, residual, temperature) the fused path takes."""
    cases = [(kind, "renormalise", t) for kind in DIVERGENCES for t in (1.0, 2.0)]
    cases += [(kind, "ignore", 1.0) for kind in ("forward_kl", "skew_kl", "tv")]
    cases += [("forward_kl", "uniform", t) for t in (1.0, 0.7, 2.0)] + [("jsd", "uniform", 1.0)]
    return cases


def divergence_of(kind, residual, temperature, **extra):
    beta = 0.0 if kind == "jsd" and residual != "renormalise" else 0.4
    return {"kind": kind, "residual": residual, "temperature": temperature, "beta": beta, "skew": 0.2, **extra}


def float64_reference(z, sparse, labels, kind, residual, temperature, beta, skew, **_):
    """(kd, ce) in float64 torch straight from the definitions; autograd gives the reference gradient."""
    mask = labels_mask(labels)
    top_logp, ids = sparse.logprobs.double(), sparse.indices
    if residual == "renormalise":
        log_p = torch.log_softmax(top_logp / temperature, -1)
        log_q = torch.log_softmax(z.gather(-1, ids) / temperature, -1)
    elif residual == "uniform":
        tail = ((1 - top_logp.exp().sum(-1, keepdim=True)) / (V - K)).log()
        completed = tail.expand(B, T, V).scatter(-1, ids, top_logp)
        log_p, log_q = torch.log_softmax(completed / temperature, -1), torch.log_softmax(z / temperature, -1)
    else:
        log_p, log_q = top_logp, torch.log_softmax(z, -1).gather(-1, ids)
    kd = temperature**2 * textbook(kind, log_p, log_q, beta, skew)[mask].mean()
    ce = -torch.log_softmax(z, -1)[mask].gather(-1, labels[mask][:, None]).mean()
    return kd, ce


@pytest.mark.parametrize(("kind", "residual", "temperature"), fused_cases())
def test_values_and_gradient_match_float64_autograd_of_the_definitions(kind, residual, temperature):
    student, sparse, labels = random_logits(B, T, V, seed=1), topk_log_probs(random_logits(B, T, V, seed=2), K), \
        example_labels()
    arguments = divergence_of(kind, residual, temperature, chunk_tokens=2)
    assert fused_applies(sparse, kind, arguments["beta"], temperature, residual, student)
    leaf = student.clone().requires_grad_(True)
    terms = kd_and_ce(leaf, sparse, labels, with_kd=True, with_ce=True, divergence=arguments)
    (0.7 * terms["kd"] + 0.3 * terms["ce"]).backward()
    z = student.double().requires_grad_(True)
    kd, ce = float64_reference(z, sparse, labels, **arguments)
    (0.7 * kd + 0.3 * ce).backward()
    assert terms["kd"].dtype == torch.float32 and terms["kd"].dim() == 0
    assert float(terms["kd"].detach()) == pytest.approx(float(kd.detach()), rel=1e-5, abs=1e-6)
    assert float(terms["ce"].detach()) == pytest.approx(float(ce.detach()), rel=1e-5, abs=1e-6)
    torch.testing.assert_close(leaf.grad.double(), z.grad, rtol=1e-4, atol=1e-7)
    assert (leaf.grad[~labels_mask(labels)] == 0).all()


@pytest.mark.parametrize(("kind", "residual", "temperature"), fused_cases())
@pytest.mark.parametrize("with_ce", [True, False])
def test_equals_the_general_path_and_chunked_equals_unchunked(kind, residual, temperature, with_ce):
    student, sparse, labels = random_logits(B, T, V, seed=3), topk_log_probs(random_logits(B, T, V, seed=4), K), \
        example_labels(1)
    results = []
    for chunk in (1, 3, 16, B * T, 1024):
        leaf = student.clone().requires_grad_(True)
        terms = kd_and_ce(leaf, sparse, labels, with_kd=True, with_ce=with_ce,
                          divergence=divergence_of(kind, residual, temperature, chunk_tokens=chunk))
        sum(terms.values()).backward()
        results.append((torch.stack(list(terms.values())).detach(), leaf.grad))
    leaf = student.clone().requires_grad_(True)
    general = [token_divergence(leaf, sparse, labels_mask(labels), **divergence_of(kind, residual, temperature))]
    if with_ce:
        general.append(F.cross_entropy(leaf.flatten(0, 1), labels.flatten()))
    sum(general).backward()
    for values, gradient in results:
        torch.testing.assert_close(values, torch.stack(general).detach(), rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(gradient, leaf.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("kind", "residual", "temperature"), fused_cases())
def test_masked_garbage_is_never_read(kind, residual, temperature):
    student, sparse, labels = random_logits(B, T, V, seed=5), topk_log_probs(random_logits(B, T, V, seed=6), K), \
        example_labels(2)
    mask, arguments = labels_mask(labels), divergence_of(kind, residual, temperature, chunk_tokens=2)
    clean = student.clone().requires_grad_(True)
    expected = kd_and_ce(clean, sparse, labels, with_kd=True, with_ce=True, divergence=arguments)
    sum(expected.values()).backward()
    logprobs, indices, dirty = sparse.logprobs.clone(), sparse.indices.clone(), student.clone()
    logprobs[~mask], indices[~mask], dirty[~mask] = float("nan"), 10**6, float("nan")
    dirty[0, 4, 0] = float("inf")
    dirty.requires_grad_(True)
    terms = kd_and_ce(dirty, TopKLogProbs(logprobs, indices), labels, with_kd=True, with_ce=True,
                      divergence=arguments)
    sum(terms.values()).backward()
    for name in ("kd", "ce"):
        assert float(terms[name].detach()) == pytest.approx(float(expected[name].detach()), rel=1e-6)
    assert torch.isfinite(dirty.grad).all()
    torch.testing.assert_close(dirty.grad, clean.grad)


def test_all_masked_gives_zero_terms_and_zero_gradient():
    leaf = random_logits(B, T, V).requires_grad_(True)
    labels = torch.full((B, T), -100)
    terms = kd_and_ce(leaf, topk_log_probs(random_logits(B, T, V, seed=1), K), labels, with_kd=True, with_ce=True,
                      divergence={"residual": "uniform"})
    sum(terms.values()).backward()
    assert float(terms["kd"].detach()) == 0.0 and float(terms["ce"].detach()) == 0.0
    assert (leaf.grad == 0).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_logits_are_computed_in_float32(dtype):
    student, sparse, labels = random_logits(B, T, V, seed=7).to(dtype), topk_log_probs(random_logits(B, T, V), K), \
        example_labels()
    leaf = student.clone().requires_grad_(True)
    terms = kd_and_ce(leaf, sparse, labels, with_kd=True, with_ce=True,
                      divergence={"residual": "uniform", "chunk_tokens": 4})
    sum(terms.values()).backward()
    z = student.double().requires_grad_(True)
    kd, ce = float64_reference(z, sparse, labels, "forward_kl", "uniform", 1.0, 0.0, 0.0)
    (kd + ce).backward()
    assert terms["kd"].dtype == torch.float32 and leaf.grad.dtype == dtype
    assert float(terms["kd"].detach()) == pytest.approx(float(kd.detach()), rel=1e-5)
    torch.testing.assert_close(leaf.grad.double(), z.grad, rtol=2e-2, atol=1e-3)  # the gradient is rounded to dtype


def test_a_vocabulary_slice_takes_the_fused_path_and_gets_its_gradient():
    wide = random_logits(B, T, V + 3, seed=8).requires_grad_(True)
    sparse, labels = topk_log_probs(random_logits(B, T, V, seed=9), K), example_labels()
    assert fused_applies(sparse, "forward_kl", 0.0, 1.0, "uniform", wide[..., :V])
    leaf = wide.detach()[..., :V].contiguous().requires_grad_(True)
    for logits in (wide[..., :V], leaf):
        sum(kd_and_ce(logits, sparse, labels, with_kd=True, with_ce=True, divergence={"residual": "uniform"})
            .values()).backward()
    torch.testing.assert_close(wide.grad[..., :V], leaf.grad)
    assert (wide.grad[..., V:] == 0).all()


@pytest.mark.parametrize(("kind", "residual", "dense"), [("reverse_kl", "uniform", False), ("tv", "uniform", False),
                                                         ("skew_kl", "uniform", False), ("forward_kl", "uniform", True),
                                                         ("jsd", "uniform", False)])
def test_other_divergences_take_the_general_path(monkeypatch, kind, residual, dense):
    """Kinds whose tail terms weigh each token by its own student probability (and dense teachers) are not fused."""
    teacher = random_logits(B, T, V, seed=10) if dense else topk_log_probs(random_logits(B, T, V, seed=10), K)
    student = random_logits(B, T, V, seed=11)
    assert not fused_applies(teacher, kind, 0.4, 1.0, residual, student)
    monkeypatch.setattr(lm_objective, "fused_top_k_with_ce", None)  # would fail if called
    terms = kd_and_ce(student, teacher, example_labels(), with_kd=True, with_ce=True,
                      divergence={"kind": kind, "residual": residual, "beta": 0.4})
    expected = token_divergence(student, teacher, labels_mask(example_labels()), kind=kind, residual=residual,
                                beta=0.4)
    assert float(terms["kd"]) == pytest.approx(float(expected), rel=1e-6)


def test_backward_keeps_nothing_vocabulary_wide_but_the_logits():
    """What autograd saves: F.cross_entropy keeps an (N, V) log-softmax; the fused CE + KD keeps only the logits
    (alive anyway) and O(N·k) per-row terms - checked with saved-tensor hooks."""
    vocab = 512
    student, labels = random_logits(2, 8, vocab, seed=12).requires_grad_(True), torch.randint(0, vocab, (2, 8))
    sparse = topk_log_probs(random_logits(2, 8, vocab, seed=13), 8)

    def saved_elements(compute):
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda tensor: saved.append(tensor) or tensor, lambda x: x):
            compute()
        return [tensor.numel() for tensor in saved if tensor.data_ptr() != student.data_ptr()]

    plain = saved_elements(lambda: F.cross_entropy(student.flatten(0, 1), labels.flatten()))
    fused = saved_elements(lambda: kd_and_ce(student, sparse, labels, with_kd=True, with_ce=True,
                                             divergence={"residual": "uniform"}))
    assert max(plain) == student.numel()  # the reference point: CE's saved log-softmax
    assert sum(fused) == 0  # ctx.save_for_backward(logits) only; the plan's per-row tensors are O(N·k)


@pytest.mark.parametrize(("kind", "residual", "temperature"), [("forward_kl", "uniform", 1.0),
                                                              ("forward_kl", "uniform", 2.0),
                                                              ("forward_kl", "ignore", 1.0),
                                                              ("tv", "renormalise", 1.0)])
@pytest.mark.parametrize(("kd_weight", "ce_weight"), [(-0.5, 2.0), (1.5, -0.25), (0.0, 1.0), (1.0, 0.0)])
def test_gradient_follows_any_term_weights_including_negative_and_zero(kind, residual, temperature, kd_weight,
                                                                        ce_weight):
    student, sparse, labels = random_logits(B, T, V, seed=14), topk_log_probs(random_logits(B, T, V, seed=15), K), \
        example_labels(3)
    arguments = divergence_of(kind, residual, temperature, chunk_tokens=4)
    leaf = student.clone().requires_grad_(True)
    terms = kd_and_ce(leaf, sparse, labels, with_kd=True, with_ce=True, divergence=arguments)
    (kd_weight * terms["kd"] + ce_weight * terms["ce"]).backward()
    z = student.double().requires_grad_(True)
    kd, ce = float64_reference(z, sparse, labels, **arguments)
    (kd_weight * kd + ce_weight * ce).backward()
    torch.testing.assert_close(leaf.grad.double(), z.grad, rtol=1e-4, atol=1e-7)
