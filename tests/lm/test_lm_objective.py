"""The lm-distill strategy with a top-k teacher: the fused one-softmax objective gives the loss, terms and gradients
of the plain token_divergence + cross-entropy sum, and is the computation actually used."""

import pytest
import torch
import torch.nn.functional as F

from kdistill.lm.blocks import next_token_labels
from kdistill.losses import lm_objective
from kdistill.losses.token_divergence import labels_mask, token_divergence, topk_log_probs
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.teachers import Teacher

VOCAB, LENGTH = 40, 12


class StoredTopK(Teacher):
    """A teacher cache in miniature: top-k log-probs of fixed logits, served by batch index."""

    scores_new_sequences = False

    def __init__(self, logits, k):
        super().__init__()
        self.stored = topk_log_probs(logits, k)

    def forward(self, batch):
        index = batch["index"]
        return type(self.stored)(self.stored.logprobs[index], self.stored.indices[index])


def student():
    torch.manual_seed(0)
    return build_model("llama-lm", {"input_ids": (LENGTH,)}, VOCAB, hidden=16, layers=1, heads=2, kv_heads=1)


def batch():
    ids = torch.randint(0, VOCAB, (3, LENGTH), generator=torch.Generator().manual_seed(1))
    return {"inputs": {"input_ids": ids}, "labels": next_token_labels(ids), "index": torch.arange(3)}


@pytest.mark.parametrize(("kind", "residual", "temperature"), [("forward_kl", "uniform", 1.0),
                                                              ("forward_kl", "uniform", 2.0),
                                                              ("reverse_kl", "renormalise", 2.0),
                                                              ("skew_kl", "ignore", 1.0)])
def test_strategy_loss_and_gradients_equal_the_plain_sum(monkeypatch, kind, residual, temperature):
    teacher = StoredTopK(torch.randn(3, LENGTH, VOCAB, generator=torch.Generator().manual_seed(2)) * 3, k=6)
    arguments = {"kind": kind, "residual": residual, "temperature": temperature, "kd_weight": 0.6, "ce_weight": 0.4}
    model = student()
    plain_model = student()
    # the fused path must be the one used: the general divergence is made unusable for the strategy
    monkeypatch.setattr(lm_objective, "token_divergence", None)
    out = build_strategy("lm-distill", teacher=teacher, **arguments)(batch(), model)
    out["loss"].backward()
    monkeypatch.undo()
    logits = plain_model(input_ids=batch()["inputs"]["input_ids"]).logits
    labels = batch()["labels"]
    kd = token_divergence(logits, teacher(batch()), labels_mask(labels), kind=kind, residual=residual,
                          temperature=temperature)
    ce = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
    (0.6 * kd + 0.4 * ce).backward()
    assert float(out["kd"]) == pytest.approx(float(kd.detach()), rel=1e-5)
    assert float(out["ce"]) == pytest.approx(float(ce.detach()), rel=1e-5)
    assert float(out["loss"].detach()) == pytest.approx(float((0.6 * kd + 0.4 * ce).detach()), rel=1e-5)
    for fused, plain in zip(model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(fused.grad, plain.grad, rtol=1e-4, atol=1e-7)


def test_strategy_with_ce_weight_zero_reports_only_the_divergence():
    teacher = StoredTopK(torch.randn(3, LENGTH, VOCAB, generator=torch.Generator().manual_seed(3)), k=4)
    out = build_strategy("lm-distill", teacher=teacher, residual="uniform")(batch(), student())
    assert "kd" in out and "ce" not in out
    assert float(out["loss"].detach()) == pytest.approx(float(out["kd"]))
