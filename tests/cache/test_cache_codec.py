import math

import pytest
import torch

from kdistill.cache import decode, encode


def test_full_round_trip_is_fp16_exact():
    logits = torch.randn(5, 10) * 4
    decoded = decode(encode(logits, "full", 0, 1.0), "full", 10)
    assert decoded.dtype == torch.float32
    torch.testing.assert_close(decoded, logits.half().float())


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_topk_keeps_top_probabilities_and_remaining_mass(temperature):
    logits = torch.randn(6, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    k = 4
    decoded = decode(encode(logits, "topk", k, temperature), "topk", 12).double()
    true_p = torch.softmax(logits / temperature, -1)
    got_p = torch.softmax(decoded / temperature, -1)
    top = logits.topk(k, -1).indices
    # the kept classes' probabilities and the total mass of the rest survive (to fp16 rounding)
    torch.testing.assert_close(got_p.gather(-1, top), true_p.gather(-1, top), atol=3e-3, rtol=3e-3)
    rest_true = 1 - true_p.gather(-1, top).sum(-1)
    rest_got = 1 - got_p.gather(-1, top).sum(-1)
    torch.testing.assert_close(rest_got, rest_true, atol=3e-3, rtol=3e-3)
    # ... spread uniformly over the discarded classes, never above the smallest kept logit
    mask = torch.ones_like(got_p, dtype=torch.bool).scatter(-1, top, False)
    rest = got_p[mask].view(6, 12 - k)
    torch.testing.assert_close(rest, rest[:, :1].expand_as(rest))
    # the teacher's top class stays on top; fp16 storage may tie it with a runner-up closer than fp16 resolution,
    # so the argmax itself must match wherever the top two logits are further apart than that
    top_class = logits.argmax(-1, keepdim=True)
    assert torch.equal(decoded.gather(-1, top_class).squeeze(-1), decoded.max(-1).values)
    top_two = logits.topk(2, -1).values
    separated = (top_two[:, 0] - top_two[:, 1]) > 1e-2 * top_two[:, 0].abs().clamp(min=1.0)
    assert separated.any() and torch.equal(decoded.argmax(-1)[separated], logits.argmax(-1)[separated])


def test_topk_with_k_at_least_classes_is_full():
    logits = torch.randn(3, 5)
    decoded = decode(encode(logits, "topk", 8, 1.0), "topk", 5)
    torch.testing.assert_close(decoded, logits.half().float())


def test_topk_fill_formula_matches_definition():
    logits = torch.tensor([[5.0, 1.0, 0.0, -1.0]], dtype=torch.float64)
    arrays = encode(logits, "topk", 1, 2.0)
    expected = 2.0 * (torch.logsumexp(logits[0, 1:] / 2.0, 0) - math.log(3))
    assert float(arrays["topk_fill"][0]) == pytest.approx(float(expected), abs=1e-2)
