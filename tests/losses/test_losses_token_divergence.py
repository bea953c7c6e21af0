"""Token-level LM divergences against naive float64 references written here with explicit loops over tokens."""

import math

import pytest
import torch

from kdistill.errors import ShapeError
from kdistill.losses.token_divergence import (
    DIVERGENCES,
    TopKLogProbs,
    labels_mask,
    token_divergence,
    topk_log_probs,
)
from divergence_definitions import divergence as naive_divergence  # noqa: E402
from divergence_definitions import log_softmax as naive_log_softmax  # noqa: E402

B, T, V = 3, 5, 11


def random_logits(*shape, scale=3.0, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def example_labels(seed=0):
    labels = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))
    labels[0, 3:] = -100
    labels[2, 1:] = -100
    return labels


def example_inputs(student_seed, teacher_seed):
    return random_logits(B, T, V, seed=student_seed), random_logits(B, T, V, seed=teacher_seed), labels_mask(
        example_labels())


def naive_mean(kind, student, teacher, mask, temperature=1.0, **kwargs):
    """T² · mean over unmasked tokens, looping over (b, t)."""
    values = []
    for b in range(student.shape[0]):
        for t in range(student.shape[1]):
            if mask[b, t]:
                p = [math.exp(x) for x in naive_log_softmax(teacher[b, t].tolist(), temperature)]
                q = [math.exp(x) for x in naive_log_softmax(student[b, t].tolist(), temperature)]
                values.append(naive_divergence(kind, p, q, **kwargs))
    return temperature**2 * sum(values) / len(values)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.parametrize("kind", DIVERGENCES)
def test_each_divergence_matches_the_float64_reference_over_unmasked_tokens(kind, temperature):
    student, teacher, mask = example_inputs(1, 2)
    expected = naive_mean(kind, student.double(), teacher.double(), mask, temperature, beta=0.3, skew=0.2)
    result = token_divergence(student, teacher, mask, kind=kind, beta=0.3, skew=0.2,
                              temperature=temperature)
    assert result.dtype == torch.float32 and result.dim() == 0
    assert float(result) == pytest.approx(expected, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_gradient_matches_autograd_of_the_float64_reference(kind):
    student, teacher, mask = example_inputs(3, 4)
    student = student.requires_grad_(True)
    token_divergence(student, teacher, mask, kind=kind, temperature=2.0, chunk_tokens=2).backward()
    # reference gradient: plain float64 autograd through the textbook formula, no chunking
    reference = student.detach().double().requires_grad_(True)
    log_p, log_q = torch.log_softmax(teacher.double() / 2.0, -1), torch.log_softmax(reference / 2.0, -1)
    p, q = log_p.exp(), log_q.exp()
    per_token = {
        "forward_kl": (p * (log_p - log_q)).sum(-1),
        "reverse_kl": (q * (log_q - log_p)).sum(-1),
        "jsd": 0.5 * (p * (2 * p / (p + q)).log()).sum(-1) + 0.5 * (q * (2 * q / (p + q)).log()).sum(-1),
        "skew_kl": (p * (p / (0.1 * p + 0.9 * q)).log()).sum(-1),
        "skew_reverse_kl": (q * (q / (0.9 * p + 0.1 * q)).log()).sum(-1),
        "tv": 0.5 * (p - q).abs().sum(-1),
    }[kind]
    (4.0 * per_token[mask].mean()).backward()
    torch.testing.assert_close(student.grad.double(), reference.grad, rtol=1e-4, atol=1e-7)
    assert (student.grad[~mask] == 0).all()


@pytest.mark.parametrize("kind", DIVERGENCES)
@pytest.mark.parametrize("chunk_tokens", [1, 3, 4, 1024])
def test_chunked_equals_unchunked_in_value_and_gradient(kind, chunk_tokens):
    student, teacher, mask = example_inputs(5, 6)
    results = []
    for chunk in (chunk_tokens, B * T):
        leaf = student.clone().requires_grad_(True)
        loss = token_divergence(leaf, teacher, mask, kind=kind, chunk_tokens=chunk)
        loss.backward()
        results.append((loss.detach(), leaf.grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_masked_garbage_changes_neither_loss_nor_gradient(kind):
    student, teacher, mask = example_inputs(7, 8)
    clean = student.clone().requires_grad_(True)
    expected = token_divergence(clean, teacher, mask, kind=kind)
    expected.backward()
    dirty_student, dirty_teacher = student.clone(), teacher.clone()
    dirty_student[~mask] = float("nan")
    dirty_teacher[~mask] = float("inf")
    dirty_student[0, 4, 0] = float("-inf")
    dirty = dirty_student.requires_grad_(True)
    loss = token_divergence(dirty, dirty_teacher, mask, kind=kind, chunk_tokens=2)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert torch.isfinite(dirty.grad).all()
    torch.testing.assert_close(dirty.grad, clean.grad)


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_tokens_both_models_give_minus_inf_act_as_removed(kind):
    """E.g. padded vocabulary rows masked with -inf by both models: no NaN, the same loss as without those tokens."""
    student, teacher, mask = example_inputs(20, 21)
    banned, kept = [0, 5], [i for i in range(V) if i not in (0, 5)]
    leaf, masked_teacher = student.clone(), teacher.clone()
    leaf[..., banned], masked_teacher[..., banned] = float("-inf"), float("-inf")
    leaf.requires_grad_(True)
    loss = token_divergence(leaf, masked_teacher, mask, kind=kind, chunk_tokens=3)
    loss.backward()
    expected = token_divergence(student[..., kept], teacher[..., kept], mask, kind=kind)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5, abs=1e-7)
    assert torch.isfinite(leaf.grad).all() and (leaf.grad[..., banned] == 0).all()


def test_gradient_scales_with_the_loss_weight_and_repeated_backward_accumulates():
    student, teacher, mask = example_inputs(22, 23)
    once = student.clone().requires_grad_(True)
    token_divergence(once, teacher, mask).backward()
    weighted = student.clone().requires_grad_(True)
    (0.3 * token_divergence(weighted, teacher, mask)).backward()
    torch.testing.assert_close(weighted.grad, 0.3 * once.grad)
    repeated = student.clone().requires_grad_(True)
    loss = token_divergence(repeated, teacher, mask)
    for _ in range(3):  # the stored gradient is handed over, never modified by the accumulation
        loss.backward(retain_graph=True)
    torch.testing.assert_close(repeated.grad, 3 * once.grad)
    through_a_layer = student.clone().requires_grad_(True)
    (token_divergence(through_a_layer * 1.0, teacher, mask) + token_divergence(through_a_layer, teacher, mask)
     ).backward()
    torch.testing.assert_close(through_a_layer.grad, 2 * once.grad)


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_all_masked_gives_zero_loss_and_zero_gradient(kind):
    student = torch.full((B, T, V), float("nan")).requires_grad_(True)
    loss = token_divergence(student, random_logits(B, T, V), torch.zeros(B, T, dtype=torch.bool), kind=kind)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert (student.grad == 0).all()


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_zero_when_student_equals_teacher_and_positive_otherwise(kind):
    teacher, mask = random_logits(B, T, V, seed=9), labels_mask(example_labels())
    assert abs(float(token_divergence(teacher.clone(), teacher, mask, kind=kind))) < 1e-6
    assert abs(float(token_divergence(teacher + 3.0, teacher, mask, kind=kind))) < 1e-5  # shift-invariant
    assert float(token_divergence(random_logits(B, T, V, seed=10), teacher, mask, kind=kind)) > 1e-3


def test_jsd_endpoints_are_forward_and_reverse_kl_and_skew_zero_is_plain_kl():
    student, teacher, mask = example_inputs(11, 12)

    def loss(**kwargs):
        return float(token_divergence(student, teacher, mask, **kwargs))

    assert loss(kind="jsd", beta=0.0) == loss(kind="forward_kl")
    assert loss(kind="jsd", beta=1.0) == loss(kind="reverse_kl")
    assert loss(kind="skew_kl", skew=0.0) == pytest.approx(loss(kind="forward_kl"), rel=1e-6)
    assert loss(kind="skew_reverse_kl", skew=0.0) == pytest.approx(loss(kind="reverse_kl"), rel=1e-6)
    # near the ends the mixture formula shrinks like beta·KL(p‖q) (TRL's convention), so the ends are special cases
    assert loss(kind="jsd", beta=1e-3) < 1e-2 * loss(kind="forward_kl")
    assert loss(kind="jsd", beta=1 - 1e-3) < 1e-2 * loss(kind="reverse_kl")
    # a larger skew moves further from the plain KL
    assert loss(kind="skew_kl", skew=0.5) < loss(kind="skew_kl", skew=0.1) < loss(kind="forward_kl")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", DIVERGENCES)
def test_half_precision_inputs_are_computed_in_float32(kind, dtype):
    student, teacher = random_logits(B, T, V, seed=13).to(dtype), random_logits(B, T, V, seed=14).to(dtype)
    mask = labels_mask(example_labels())
    leaf = student.clone().requires_grad_(True)
    loss = token_divergence(leaf, teacher, mask, kind=kind)
    loss.backward()
    assert loss.dtype == torch.float32 and leaf.grad.dtype == dtype
    # the rounded inputs, computed in float64: only float32 arithmetic error remains (half arithmetic would be ~1e-3)
    expected = naive_mean(kind, student.double(), teacher.double(), mask)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_no_intermediate_exceeds_chunk_tokens_times_vocab():
    """Record every tensor an op allocates; only the student-sized gradient may exceed chunk × V."""
    from torch.utils._python_dispatch import TorchDispatchMode

    vocab, chunk = 4096, 8
    student = random_logits(4, 32, vocab, seed=15)
    teacher, mask = random_logits(4, 32, vocab, seed=16), torch.ones(4, 32, dtype=torch.bool)

    class Allocations(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.sizes = {}  # storage address -> elements

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for tensor in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(tensor, torch.Tensor):
                    self.sizes[tensor.untyped_storage().data_ptr()] = tensor.numel()
            return out

    full_teacher = TopKLogProbs(torch.log_softmax(teacher, -1), torch.arange(vocab).expand(4, 32, vocab))  # k = V
    wide = random_logits(4, 32, vocab + 100, seed=17)
    cases = [(student, teacher), (student, topk_log_probs(teacher, 64)), (student, full_teacher),
             (wide[..., :vocab], teacher)]  # a vocabulary slice: non-contiguous, must not be copied whole
    cases += [(student, topk_log_probs(teacher, 64)), (student, full_teacher)]  # these two with renormalise
    for kind in DIVERGENCES:
        for case, (student_input, teacher_input) in enumerate(cases):
            residual = "renormalise" if case >= 4 else "uniform"
            leaf = student_input.clone() if student_input.is_contiguous() else wide.clone()[..., :vocab]
            leaf.requires_grad_(True)
            tensors = (leaf, teacher, full_teacher.logprobs, full_teacher.indices)
            with Allocations() as recorder:
                token_divergence(leaf, teacher_input, mask, kind=kind, chunk_tokens=chunk,
                                 residual=residual).backward()
            inputs = {tensor.untyped_storage().data_ptr() for tensor in tensors}
            sizes = [size for address, size in recorder.sizes.items() if address not in inputs]  # views don't count
            large = [size for size in sizes if size > chunk * vocab]
            if residual == "uniform":
                assert max(sizes) >= chunk * vocab  # the chunks really were V wide
            # the gradient buffer and the gradient handed back (buffer × grad_output): each the size of the logits
            assert all(size == student.numel() for size in large) and len(large) <= 2, (kind, large)


def test_argument_errors_name_the_problem():
    student, teacher, mask = random_logits(B, T, V), random_logits(B, T, V), torch.ones(B, T, dtype=torch.bool)
    with pytest.raises(ValueError, match="forward_kl, reverse_kl, jsd"):
        token_divergence(student, teacher, mask, kind="kl")
    with pytest.raises(ValueError, match="beta"):
        token_divergence(student, teacher, mask, kind="jsd", beta=1.5)
    with pytest.raises(ValueError, match="skew"):
        token_divergence(student, teacher, mask, kind="skew_kl", skew=1.0)
    with pytest.raises(ValueError, match="temperature"):
        token_divergence(student, teacher, mask, temperature=0.0)
    with pytest.raises(ValueError, match="chunk_tokens"):
        token_divergence(student, teacher, mask, chunk_tokens=0)
    with pytest.raises(ValueError, match="ignore, uniform, renormalise"):
        token_divergence(student, topk_log_probs(teacher, 3), mask, residual="drop")
    with pytest.raises(ShapeError, match="labels_mask"):
        token_divergence(student, teacher, mask.long())
    with pytest.raises(ShapeError, match=r"\(3, 4\)"):
        token_divergence(student, teacher, mask[:, :4])


def test_vocabulary_mismatch_names_both_sizes_and_the_alignment():
    mask = torch.ones(B, T, dtype=torch.bool)
    with pytest.raises(ShapeError, match=r"teacher vocabulary size 13 differs from the student's 11.*shared-prefix"):
        token_divergence(random_logits(B, T, V), random_logits(B, T, 13), mask)
    with pytest.raises(ShapeError, match=r"\(2, 5, 11\)"):
        token_divergence(random_logits(B, T, V), random_logits(2, T, V), mask)
    sparse = topk_log_probs(random_logits(B, T, 13), 4)
    sparse = TopKLogProbs(sparse.logprobs, torch.full_like(sparse.indices, 12))
    with pytest.raises(ShapeError, match=r"\[12, 12\].*11 tokens"):
        token_divergence(random_logits(B, T, V), sparse, mask)


def test_topk_log_probs_are_full_softmax_log_probs():
    teacher = random_logits(B, T, V, seed=17).bfloat16()
    sparse = topk_log_probs(teacher, 4)
    assert sparse.logprobs.dtype == torch.float32 and sparse.indices.dtype == torch.int64
    assert sparse.logprobs.shape == (B, T, 4)
    for b in range(B):
        for t in range(T):
            reference = naive_log_softmax(teacher[b, t].double().tolist())
            order = sorted(range(V), key=lambda i: -reference[i])[:4]
            assert sparse.indices[b, t].tolist() == order
            assert sparse.logprobs[b, t].tolist() == pytest.approx([reference[i] for i in order], abs=1e-5)
    with pytest.raises(ValueError, match=r"k must be in \[1, 11\]"):
        topk_log_probs(teacher, 12)


def test_labels_mask_uses_ignore_index():
    labels = torch.tensor([[1, -100, 3], [-1, 2, -100]])
    assert labels_mask(labels).tolist() == [[True, False, True], [True, True, False]]
    assert labels_mask(labels, ignore_index=-1).tolist() == [[True, True, True], [False, True, True]]
