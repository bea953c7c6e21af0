"""Hinton KD losses against naive float64 references written with explicit loops (not the library's own calls)."""

import math

import pytest
import torch

from kdistill.errors import ShapeError
from kdistill.losses import (
    IGNORE_INDEX,
    HintonKDLoss,
    hinton_kd_loss,
    kd_kl_divergence,
    log_softmax_with_temperature,
    logit_matching_loss,
    soft_target_cross_entropy,
    softmax_with_temperature,
)


def random_logits(*shape, scale=3.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale


def naive_log_softmax(row, temperature):
    """One prediction's tempered log-softmax in Python floats (float64): z/T − log Σ exp(z/T), max-shifted."""
    scaled = [float(z) / temperature for z in row]
    top = max(scaled)
    log_total = top + math.log(sum(math.exp(s - top) for s in scaled))
    return [s - log_total for s in scaled]


def naive_softmax(row, temperature):
    return [math.exp(value) for value in naive_log_softmax(row, temperature)]


def naive_kd(student, teacher, temperature):
    """T² · Σ_i p_i (log p_i − log q_i), mean over the rows of (N, C) logits, in float64."""
    per_row = []
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        log_p, log_q = naive_log_softmax(t_row, temperature), naive_log_softmax(s_row, temperature)
        per_row.append(sum(math.exp(lp) * (lp - lq) for lp, lq in zip(log_p, log_q)))
    return temperature**2 * sum(per_row) / len(per_row)


def naive_entropy(teacher, temperature):
    rows = [naive_softmax(row, temperature) for row in teacher.tolist()]
    return sum(-sum(p * math.log(p) for p in row if p > 0) for row in rows) / len(rows)


def naive_cross_entropy(student, labels):
    total = 0.0
    for row, label in zip(student.tolist(), labels.tolist()):
        total -= math.log(naive_softmax(row, 1.0)[label])
    return total / len(labels)


def student_gradient(loss_fn, student, teacher, *args):
    student = student.clone().requires_grad_(True)
    loss_fn(student, teacher, *args).backward()
    return student.grad


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_softmax_with_temperature_matches_float64_reference(temperature):
    logits = random_logits(5, 7)
    expected = torch.tensor([naive_softmax(row, temperature) for row in logits.tolist()], dtype=torch.float64)
    result = softmax_with_temperature(logits, temperature)
    assert result.dtype == torch.float32
    torch.testing.assert_close(result.double(), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(log_softmax_with_temperature(logits, temperature).double(), expected.log(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_non_positive_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match="temperature"):
        softmax_with_temperature(random_logits(2, 3), temperature)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 8.0, 20.0])
def test_kd_kl_divergence_matches_naive_float64(temperature):
    student, teacher = random_logits(6, 10, seed=1), random_logits(6, 10, seed=2)
    result = kd_kl_divergence(student, teacher, temperature)
    assert result.dim() == 0
    assert float(result) == pytest.approx(naive_kd(student, teacher, temperature), rel=1e-4, abs=1e-6)


def test_kd_kl_divergence_is_zero_only_when_student_equals_teacher():
    teacher = random_logits(8, 10)
    assert abs(float(kd_kl_divergence(teacher.clone(), teacher, 4.0))) < 1e-6
    # a constant shift does not change the distribution either
    assert abs(float(kd_kl_divergence(teacher + 5.0, teacher, 4.0))) < 1e-5
    assert float(kd_kl_divergence(random_logits(8, 10, seed=3), teacher, 4.0)) > 1e-3


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_soft_cross_entropy_has_kl_gradient_and_differs_by_scaled_entropy(temperature):
    student, teacher = random_logits(6, 10, seed=4), random_logits(6, 10, seed=5)
    kl_gradient = student_gradient(kd_kl_divergence, student, teacher, temperature)
    ce_gradient = student_gradient(soft_target_cross_entropy, student, teacher, temperature)
    torch.testing.assert_close(ce_gradient, kl_gradient, rtol=1e-4, atol=1e-7)
    difference = float(soft_target_cross_entropy(student, teacher, temperature) - kd_kl_divergence(
        student, teacher, temperature))
    expected = temperature**2 * naive_entropy(teacher, temperature)
    assert expected > 0.1  # the two losses really differ
    assert difference == pytest.approx(expected, rel=1e-4)


def test_kd_gradient_is_naive_t_times_q_minus_p():
    student, teacher, temperature = random_logits(4, 5, seed=6), random_logits(4, 5, seed=7), 3.0
    gradient = student_gradient(kd_kl_divergence, student, teacher, temperature)
    expected = torch.tensor([
        [temperature * (qi - pi) / len(student) for qi, pi in zip(naive_softmax(s, temperature), naive_softmax(t, temperature))]
        for s, t in zip(student.tolist(), teacher.tolist())
    ], dtype=torch.float64)
    torch.testing.assert_close(gradient.double(), expected, rtol=1e-4, atol=1e-7)


def test_t_squared_keeps_soft_gradient_magnitude_while_unscaled_gradient_shrinks():
    student, teacher = random_logits(16, 10, seed=8), random_logits(16, 10, seed=9)
    temperatures = [2.0, 5.0, 10.0, 20.0]
    scaled = [float(student_gradient(kd_kl_divergence, student, teacher, t).norm()) for t in temperatures]
    unscaled = [
        float(student_gradient(lambda s, z, t: kd_kl_divergence(s, z, t) / t**2, student, teacher, t).norm())
        for t in temperatures
    ]
    assert max(scaled) / min(scaled) < 3.0
    # without T² the gradient falls roughly as 1/T²: from T=5 to T=20 by ~16x, from T=2 to T=20 by >= 50x
    assert unscaled[1] / unscaled[3] == pytest.approx(16.0, rel=0.25)
    assert unscaled[0] / unscaled[3] > 50.0
    for t, s, u in zip(temperatures, scaled, unscaled):
        assert u == pytest.approx(s / t**2, rel=1e-4)


def test_logit_matching_gradient_is_high_temperature_limit_of_kd():
    student, teacher = random_logits(6, 10, scale=1.0, seed=10), random_logits(6, 10, scale=1.0, seed=11)
    student, teacher = student - student.mean(-1, keepdim=True), teacher - teacher.mean(-1, keepdim=True)
    kd_gradient = student_gradient(kd_kl_divergence, student, teacher, 1000.0)
    mse_gradient = student_gradient(logit_matching_loss, student, teacher)
    # naive: d/dz_s of (1/2C)·‖z_s − z_t‖², batch-mean
    expected = (student.double() - teacher.double()) / (10 * 6)
    torch.testing.assert_close(mse_gradient.double(), expected, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(kd_gradient, mse_gradient, rtol=1e-2, atol=1e-5)
    # at a low temperature the two are clearly different: the test above is not vacuous
    low_t_gradient = student_gradient(kd_kl_divergence, student, teacher, 1.0)
    assert not torch.allclose(low_t_gradient, mse_gradient, rtol=1e-1, atol=1e-3)


@pytest.mark.parametrize("temperature", [1.0, 20.0])
@pytest.mark.parametrize("loss_fn", [kd_kl_divergence, soft_target_cross_entropy])
def test_huge_logits_give_finite_loss_and_gradient(loss_fn, temperature):
    student, teacher = random_logits(4, 10, scale=1e3, seed=12), random_logits(4, 10, scale=1e3, seed=13)
    student = student.requires_grad_(True)
    loss = loss_fn(student, teacher, temperature)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(student.grad).all()
    if loss_fn is kd_kl_divergence:
        assert float(loss.detach()) == pytest.approx(naive_kd(student.detach(), teacher, temperature), rel=1e-3)


def test_hinton_kd_loss_is_weighted_sum_of_returned_terms():
    student, teacher = random_logits(8, 10, seed=14), random_logits(8, 10, seed=15)
    labels = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(0))
    alpha, beta, temperature = 0.3, 0.7, 4.0
    terms = hinton_kd_loss(student, teacher, labels, temperature, alpha, beta)
    assert float(terms["ce"]) == pytest.approx(naive_cross_entropy(student, labels), rel=1e-5)
    assert float(terms["kd"]) == pytest.approx(naive_kd(student, teacher, temperature), rel=1e-4)
    assert float(terms["loss"]) == pytest.approx(alpha * float(terms["ce"]) + beta * float(terms["kd"]), rel=1e-6)
    module_terms = HintonKDLoss(temperature, alpha, beta)(student, teacher, labels)
    assert float(module_terms["loss"]) == pytest.approx(float(terms["loss"]), rel=1e-6)


def test_hinton_kd_loss_soft_loss_variants_and_errors():
    student, teacher = random_logits(4, 5, seed=16), random_logits(4, 5, seed=17)
    mse = hinton_kd_loss(student, teacher, None, 4.0, 0.0, 1.0, soft_loss="mse")
    assert float(mse["kd"]) == pytest.approx(float(logit_matching_loss(student, teacher)))
    assert float(mse["ce"]) == 0.0
    with pytest.raises(ValueError, match="soft_loss"):
        hinton_kd_loss(student, teacher, None, 4.0, 0.0, 1.0, soft_loss="l1")
    with pytest.raises(ValueError, match="alpha"):
        hinton_kd_loss(student, teacher, None, 4.0, 0.5, 0.5)


def test_sequence_padding_positions_do_not_change_the_loss():
    batch, steps, vocab, temperature = 3, 5, 7, 2.0
    student, teacher = random_logits(batch, steps, vocab, seed=18), random_logits(batch, steps, vocab, seed=19)
    labels = torch.randint(0, vocab, (batch, steps), generator=torch.Generator().manual_seed(1))
    labels[0, 3:] = IGNORE_INDEX
    labels[2, 1:] = IGNORE_INDEX
    valid = labels != IGNORE_INDEX
    terms = hinton_kd_loss(student, teacher, labels, temperature, 0.5, 0.5)

    # garbage at padded positions must not matter
    noisy_student, noisy_teacher = student.clone(), teacher.clone()
    noisy_student[~valid] = random_logits(int((~valid).sum()), vocab, scale=50.0, seed=20)
    noisy_teacher[~valid] = random_logits(int((~valid).sum()), vocab, scale=50.0, seed=21)
    noisy = hinton_kd_loss(noisy_student, noisy_teacher, labels, temperature, 0.5, 0.5)
    for name in ("loss", "ce", "kd"):
        assert float(noisy[name]) == pytest.approx(float(terms[name]), rel=1e-5)

    # and the value is the mean over valid tokens only
    assert float(terms["kd"]) == pytest.approx(naive_kd(student[valid], teacher[valid], temperature), rel=1e-4)
    assert float(terms["ce"]) == pytest.approx(naive_cross_entropy(student[valid], labels[valid]), rel=1e-5)


def test_bf16_inputs_give_float32_loss_close_to_float32_computation():
    student, teacher = random_logits(4, 10, seed=22).bfloat16(), random_logits(4, 10, seed=23).bfloat16()
    for loss in (kd_kl_divergence(student, teacher, 4.0), soft_target_cross_entropy(student, teacher, 4.0),
                 logit_matching_loss(student, teacher)):
        assert loss.dtype == torch.float32
    terms = hinton_kd_loss(student, teacher, torch.zeros(4, dtype=torch.long), 4.0, 0.5, 0.5)
    assert terms["loss"].dtype == torch.float32
    reference = naive_kd(student.float(), teacher.float(), 4.0)
    assert float(kd_kl_divergence(student, teacher, 4.0)) == pytest.approx(reference, rel=1e-4)


@pytest.mark.parametrize("loss_fn", [kd_kl_divergence, soft_target_cross_entropy])
def test_class_count_mismatch_raises_shape_error_naming_both(loss_fn):
    with pytest.raises(ShapeError) as error:
        loss_fn(random_logits(4, 7), random_logits(4, 10), 2.0)
    assert "10" in str(error.value) and "7" in str(error.value)
    with pytest.raises(ShapeError, match="10"):
        logit_matching_loss(random_logits(4, 7), random_logits(4, 10))
    with pytest.raises(ShapeError, match=r"\(3, 10\)"):
        loss_fn(random_logits(4, 10), random_logits(3, 10), 2.0)


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 7)])
def test_fused_kd_gradient_passes_gradcheck_in_float64(shape):
    """kd_kl_divergence on fixed targets is one autograd node with a hand-written backward: check it numerically."""
    student = random_logits(*shape).double().requires_grad_(True)
    teacher = random_logits(*shape, seed=1).double()
    assert torch.autograd.gradcheck(lambda s: kd_kl_divergence(s, teacher, 2.5), (student,))
    torch.testing.assert_close(kd_kl_divergence(student, teacher, 2.5).double(),
                               torch.tensor(naive_kd(student.reshape(-1, shape[-1]).detach(),
                                                     teacher.reshape(-1, shape[-1]), 2.5), dtype=torch.float64),
                               rtol=1e-5, atol=1e-6)


def test_fused_kd_equals_the_composed_graph():
    """Fixed targets take the fused node, a teacher that needs gradients the composed graph: same value and
    student gradient; the composed path still sends the teacher its gradient."""
    student, teacher = random_logits(8, 10), random_logits(8, 10, seed=2)
    fused = student_gradient(kd_kl_divergence, student, teacher, 3.0)
    teacher_leaf = teacher.clone().requires_grad_(True)
    student_leaf = student.clone().requires_grad_(True)
    composed_loss = kd_kl_divergence(student_leaf, teacher_leaf, 3.0)
    composed_loss.backward()
    torch.testing.assert_close(fused, student_leaf.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(kd_kl_divergence(student, teacher, 3.0), composed_loss.detach(), rtol=1e-6, atol=1e-7)
    assert teacher_leaf.grad is not None and teacher_leaf.grad.abs().sum() > 0


def test_fused_kd_under_bf16_autocast_gives_a_float32_loss_and_gradient_in_the_input_dtype():
    student = random_logits(4, 6).to(torch.bfloat16).requires_grad_(True)
    teacher = random_logits(4, 6, seed=3)
    with torch.autocast("cpu", torch.bfloat16):
        loss = kd_kl_divergence(student, teacher, 2.0)
    loss.backward()
    assert loss.dtype == torch.float32 and student.grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss, kd_kl_divergence(student.detach().float(), teacher, 2.0))


@pytest.mark.parametrize("classes", [2, 10, 15, 16, 40])
def test_log_softmax_last_equals_log_softmax_for_every_class_count(classes):
    from kdistill.losses.hinton import log_softmax_last

    logits = random_logits(33, classes)
    torch.testing.assert_close(log_softmax_last(logits), torch.log_softmax(logits, -1), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(kd_kl_divergence(logits, random_logits(33, classes, seed=4), 2.0),
                               torch.tensor(naive_kd(logits, random_logits(33, classes, seed=4), 2.0)).float(),
                               rtol=1e-5, atol=1e-6)
