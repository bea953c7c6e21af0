"""The text losses against naive float64 references; padding never contributes to any of them."""

import math

import pytest
import torch

from kdistill.errors import ShapeError
from kdistill.losses.attention_maps import attention_map_loss, attention_scores
from kdistill.losses.embedding_layer import embedding_layer_mse
from kdistill.losses.hidden_states import hidden_state_mse
from kdistill.losses.sentence_embedding import cosine_distance, embedding_mse, mean_pool

B, T, H, HEADS = 3, 5, 8, 2


def mask():
    return torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])


def reference_hidden(s, t, m):
    total, count = 0.0, 0
    for b in range(B):
        for i in range(T):
            if m[b, i]:
                total += sum((float(s[b, i, d]) - float(t[b, i, d])) ** 2 for d in range(H)) / H
                count += 1
    return total / count


def reference_scores(q, k, heads):
    d = q.shape[-1] // heads
    out = torch.zeros(q.shape[0], heads, q.shape[1], q.shape[1], dtype=torch.float64)
    for b in range(q.shape[0]):
        for h in range(heads):
            for i in range(q.shape[1]):
                for j in range(q.shape[1]):
                    out[b, h, i, j] = sum(float(q[b, i, h * d + x]) * float(k[b, j, h * d + x])
                                          for x in range(d)) / math.sqrt(d)
    return out


def test_hidden_and_embedding_mse_match_the_reference_over_real_tokens():
    torch.manual_seed(0)
    s, t, m = torch.randn(B, T, H), torch.randn(B, T, H), mask()
    expected = reference_hidden(s.double(), t.double(), m)
    assert hidden_state_mse(s, t, m).item() == pytest.approx(expected, rel=1e-5)
    assert embedding_layer_mse(s, t, m).item() == pytest.approx(expected, rel=1e-5)


def test_attention_scores_match_the_reference():
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, H), torch.randn(2, 4, H)
    torch.testing.assert_close(attention_scores(q, k, HEADS).double(), reference_scores(q.double(), k.double(), HEADS),
                               rtol=1e-5, atol=1e-5)


def test_attention_score_loss_matches_the_reference_over_valid_pairs():
    torch.manual_seed(0)
    s, t, m = torch.randn(B, HEADS, T, T), torch.randn(B, HEADS, T, T), mask()
    total, count = 0.0, 0
    for b in range(B):
        for h in range(HEADS):
            for i in range(T):
                for j in range(T):
                    if m[b, i] and m[b, j]:
                        total += (float(s[b, h, i, j]) - float(t[b, h, i, j])) ** 2
                        count += 1
    assert attention_map_loss(s, t, m, "scores").item() == pytest.approx(total / count, rel=1e-5)


def test_attention_probability_loss_is_a_kl_over_real_keys_and_queries():
    torch.manual_seed(0)
    s, t, m = torch.randn(B, HEADS, T, T), torch.randn(B, HEADS, T, T), mask()
    total, count = 0.0, 0
    for b in range(B):
        keys = [j for j in range(T) if m[b, j]]
        for h in range(HEADS):
            for i in keys:
                ps = torch.softmax(s[b, h, i, keys].double(), -1)
                pt = torch.softmax(t[b, h, i, keys].double(), -1)
                total += float((pt * (pt.log() - ps.log())).sum())
                count += 1
    assert attention_map_loss(s, t, m, "probs").item() == pytest.approx(total / count, rel=1e-5)


@pytest.mark.parametrize("loss", [
    lambda s, t, m: hidden_state_mse(s, t, m),
    lambda s, t, m: attention_map_loss(attention_scores(s, s, HEADS), attention_scores(t, t, HEADS), m, "scores"),
    lambda s, t, m: attention_map_loss(attention_scores(s, s, HEADS), attention_scores(t, t, HEADS), m, "probs"),
    lambda s, t, m: embedding_mse(mean_pool(s, m), mean_pool(t, m)) + cosine_distance(mean_pool(s, m), mean_pool(t, m)),
], ids=["hidden", "attention-scores", "attention-probs", "sentence"])
def test_padding_never_contributes_to_value_or_gradient(loss):
    torch.manual_seed(0)
    s, t, m = torch.randn(B, T, H, requires_grad=True), torch.randn(B, T, H), mask()
    value = loss(s, t, m)
    value.backward()
    padded = m == 0
    assert torch.all(s.grad[padded] == 0)  # no gradient into padded positions
    garbage_s, garbage_t = s.detach().clone(), t.clone()
    garbage_s[padded], garbage_t[padded] = 1e3, -1e3  # anything at all in the padding
    assert loss(garbage_s, garbage_t, m).item() == pytest.approx(value.item(), rel=1e-5)
    assert torch.isfinite(value)


def test_a_fully_padded_sentence_gives_finite_gradients():
    torch.manual_seed(0)
    s = torch.randn(2, HEADS, T, T, requires_grad=True)
    m = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]])
    attention_map_loss(s, torch.randn(2, HEADS, T, T), m, "probs").backward()
    assert torch.isfinite(s.grad).all()


def test_sentence_losses_match_references():
    torch.manual_seed(0)
    s, t = torch.randn(4, 6), torch.randn(4, 6)
    assert embedding_mse(s, t).item() == pytest.approx(float(((s.double() - t.double()) ** 2).mean()), rel=1e-6)
    cos = [float(a.double() @ b.double() / (a.double().norm() * b.double().norm())) for a, b in zip(s, t)]
    assert cosine_distance(s, t).item() == pytest.approx(sum(1 - c for c in cos) / 4, rel=1e-5)
    hidden, m = torch.randn(B, T, H), mask()
    expected = torch.stack([hidden[b, m[b].bool()].double().mean(0) for b in range(B)])
    torch.testing.assert_close(mean_pool(hidden, m).double(), expected, rtol=1e-5, atol=1e-6)


def test_losses_are_zero_for_identical_inputs():
    torch.manual_seed(0)
    x, m = torch.randn(B, T, H), mask()
    scores = attention_scores(x, x, HEADS)
    assert hidden_state_mse(x, x, m).item() == 0
    assert attention_map_loss(scores, scores, m, "scores").item() == 0
    assert attention_map_loss(scores, scores, m, "probs").item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_distance(x[:, 0], x[:, 0]).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("call", [
    lambda: hidden_state_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5)),
    lambda: hidden_state_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 4)),
    lambda: attention_map_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3)),
    lambda: embedding_mse(torch.zeros(2, 3), torch.zeros(2, 4)),
])
def test_shape_mismatches_are_one_line_shape_errors(call):
    with pytest.raises(ShapeError) as error:
        call()
    assert "\n" not in str(error.value)


def test_mean_heads_compares_students_with_other_head_counts():
    torch.manual_seed(0)
    s, t = torch.randn(1, 2, T, T), torch.randn(1, 4, T, T)
    expected = float(((s.double().mean(1) - t.double().mean(1)) ** 2).mean())
    assert attention_map_loss(s, t, None, "scores", heads="mean").item() == pytest.approx(expected, rel=1e-5)
