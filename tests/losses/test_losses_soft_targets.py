"""Hinton KD from the teacher's log-probabilities (the cached path) against naive float64 references: values of every
term and the student's gradient, written out with Python floats, for few and many classes, with and without labels."""

import math

import pytest
import torch

from kdistill.errors import ShapeError
from kdistill.losses import (
    IGNORE_INDEX,
    hard_label_cross_entropy,
    hinton_kd_loss,
    hinton_kd_loss_from_log_probs,
    tempered_log_probs,
)


def random_logits(*shape, scale=3.0, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def naive_softmax(row, temperature):
    scaled = [float(z) / temperature for z in row]
    top = max(scaled)
    total = sum(math.exp(s - top) for s in scaled)
    return [math.exp(s - top) / total for s in scaled]


def naive_hinton(student, teacher, labels, temperature, alpha, beta):
    """(loss, ce, kd, d loss / d student) in float64: α · mean CE + β · T² · mean KL over the rows; the gradient is
    α (s − onehot) / n_labelled + β T (q − p) / n, written out per element."""
    rows, classes = student.shape
    labelled = [i for i in range(rows) if labels is not None and labels[i] != IGNORE_INDEX]
    ce = kd = 0.0
    grad = [[0.0] * classes for _ in range(rows)]
    for i, (s_row, t_row) in enumerate(zip(student.tolist(), teacher.tolist())):
        p, q = naive_softmax(t_row, temperature), naive_softmax(s_row, temperature)
        kd += sum(pc * (math.log(pc) - math.log(qc)) for pc, qc in zip(p, q) if pc > 0)
        for c in range(classes):
            grad[i][c] += beta * temperature * (q[c] - p[c]) / rows
        if i in labelled:
            s = naive_softmax(s_row, 1.0)
            ce -= math.log(s[int(labels[i])])
            for c in range(classes):
                grad[i][c] += alpha * (s[c] - (c == int(labels[i]))) / len(labelled)
    ce = ce / len(labelled) if labelled else 0.0
    kd = temperature**2 * kd / rows
    return alpha * ce + beta * kd, ce, kd, torch.tensor(grad, dtype=torch.float64)


@pytest.mark.parametrize("classes", [3, 10, 16, 40])  # below 16 the transposed-softmax path, from 16 the direct one
@pytest.mark.parametrize("temperature, alpha, beta", [(1.0, 0.5, 0.5), (4.0, 0.1, 0.9), (20.0, 0.0, 1.0)])
def test_loss_from_log_probs_matches_naive_float64_values_and_gradient(classes, temperature, alpha, beta):
    student, teacher = random_logits(12, classes), random_logits(12, classes, seed=1)
    labels = torch.randint(0, classes, (12,), generator=torch.Generator().manual_seed(2))
    leaf = student.clone().requires_grad_(True)
    terms = hinton_kd_loss_from_log_probs(leaf, tempered_log_probs(teacher, temperature), labels, temperature,
                                          alpha, beta)
    terms["loss"].backward()
    loss, ce, kd, grad = naive_hinton(student, teacher, labels, temperature, alpha, beta)
    for name, value in (("loss", loss), ("ce", ce), ("kd", kd)):
        assert terms[name].dtype == torch.float32
        assert float(terms[name].detach()) == pytest.approx(value, rel=1e-5, abs=1e-6), name
    torch.testing.assert_close(leaf.grad.double(), grad, rtol=1e-4, atol=1e-7)
    assert not terms["ce"].requires_grad and not terms["kd"].requires_grad


def test_float64_inputs_stay_float64_and_pass_gradcheck():
    student = random_logits(6, 5).double().requires_grad_(True)
    log_p = tempered_log_probs(random_logits(6, 5, seed=1).double(), 2.5)
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    assert log_p.dtype == torch.float64

    def loss(s):
        return hinton_kd_loss_from_log_probs(s, log_p, labels, 2.5, 0.3, 0.7)["loss"]

    assert loss(student).dtype == torch.float64
    assert torch.autograd.gradcheck(loss, (student,))


def test_without_labels_only_the_soft_term_counts_and_alpha_needs_labels():
    student, teacher = random_logits(7, 10), random_logits(7, 10, seed=5)
    leaf = student.clone().requires_grad_(True)
    terms = hinton_kd_loss_from_log_probs(leaf, tempered_log_probs(teacher, 3.0), None, 3.0, 0.0, 0.8)
    terms["loss"].backward()
    loss, _, kd, grad = naive_hinton(student, teacher, None, 3.0, 0.0, 0.8)
    assert float(terms["loss"].detach()) == pytest.approx(loss, rel=1e-5)
    assert float(terms["kd"]) == pytest.approx(kd, rel=1e-5)
    assert float(terms["ce"]) == 0.0
    torch.testing.assert_close(leaf.grad.double(), grad, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="alpha > 0 needs labels"):
        hinton_kd_loss_from_log_probs(student, tempered_log_probs(teacher, 3.0), None, 3.0, 0.5, 0.5)


def test_ignored_labels_leave_the_ce_mean_over_labelled_rows():
    student, teacher = random_logits(8, 10), random_logits(8, 10, seed=3)
    labels = torch.tensor([1, IGNORE_INDEX, 3, 3, IGNORE_INDEX, 0, 9, 2])
    leaf = student.clone().requires_grad_(True)
    terms = hinton_kd_loss_from_log_probs(leaf, tempered_log_probs(teacher, 2.0), labels, 2.0, 0.4, 0.6)
    terms["loss"].backward()
    loss, ce, _, grad = naive_hinton(student, teacher, labels, 2.0, 0.4, 0.6)
    assert float(terms["ce"]) == pytest.approx(ce, rel=1e-5)
    assert float(terms["loss"].detach()) == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(leaf.grad.double(), grad, rtol=1e-4, atol=1e-7)


def test_sequences_from_log_probs_equal_the_masked_loss_on_logits():
    """(B, T, V) with padding take the masked losses on T · log p: the same values and gradient as from logits."""
    student, teacher = random_logits(2, 5, 7), random_logits(2, 5, 7, seed=6)
    labels = torch.tensor([[1, 2, 3, IGNORE_INDEX, IGNORE_INDEX], [0, 6, 5, 4, IGNORE_INDEX]])
    from_logits, from_log_probs = student.clone().requires_grad_(True), student.clone().requires_grad_(True)
    expected = hinton_kd_loss(from_logits, teacher, labels, 2.0, 0.2, 0.8)
    got = hinton_kd_loss_from_log_probs(from_log_probs, tempered_log_probs(teacher, 2.0), labels, 2.0, 0.2, 0.8)
    expected["loss"].backward()
    got["loss"].backward()
    for name in ("loss", "ce", "kd"):
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(from_log_probs.grad, from_logits.grad, rtol=1e-5, atol=1e-7)


def test_hinton_kd_loss_on_logits_takes_the_same_path_and_matches_naive():
    student, teacher = random_logits(9, 10), random_logits(9, 10, seed=8)
    labels = torch.randint(0, 10, (9,), generator=torch.Generator().manual_seed(1))
    leaf = student.clone().requires_grad_(True)
    terms = hinton_kd_loss(leaf, teacher, labels, 4.0, 0.1, 0.9)
    terms["loss"].backward()
    loss, _, _, grad = naive_hinton(student, teacher, labels, 4.0, 0.1, 0.9)
    assert float(terms["loss"].detach()) == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(leaf.grad.double(), grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("classes", [10, 40])
def test_hard_label_cross_entropy_equals_torch_cross_entropy(classes):
    logits = random_logits(20, classes)
    labels = torch.randint(0, classes, (20,), generator=torch.Generator().manual_seed(3))
    labels[4] = IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(hard_label_cross_entropy(logits, labels), expected, rtol=1e-6, atol=1e-6)


def test_bf16_autocast_gives_a_float32_loss_and_a_gradient_in_the_input_dtype():
    student = random_logits(4, 6).to(torch.bfloat16).requires_grad_(True)
    log_p = tempered_log_probs(random_logits(4, 6, seed=3), 2.0)
    labels = torch.tensor([0, 1, 2, 3])
    with torch.autocast("cpu", torch.bfloat16):
        loss = hinton_kd_loss_from_log_probs(student, log_p, labels, 2.0, 0.5, 0.5)["loss"]
    loss.backward()
    assert loss.dtype == torch.float32 and student.grad.dtype == torch.bfloat16
    expected = hinton_kd_loss_from_log_probs(student.detach().float(), log_p, labels, 2.0, 0.5, 0.5)["loss"]
    torch.testing.assert_close(loss, expected)


def test_a_class_count_mismatch_names_both_and_temperature_is_checked():
    with pytest.raises(ShapeError, match="teacher predicts 9 classes but the student predicts 10"):
        hinton_kd_loss_from_log_probs(random_logits(4, 10), random_logits(4, 9), None, 2.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        tempered_log_probs(random_logits(4, 10), 0.0)
