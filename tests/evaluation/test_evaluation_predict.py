import pytest
import torch
from torch import nn

from kdistill.errors import KdistillError, ShapeError
from kdistill.evaluation import predict_logits


class RecordsMode(nn.Module):
    """A linear classifier with dropout that remembers whether it ran in training mode."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 3)
        self.dropout = nn.Dropout(0.5)
        self.saw_training = []

    def forward(self, x):
        self.saw_training.append(self.training)
        return self.dropout(self.linear(x))


def test_tuple_batches_eval_mode_and_restore():
    model = RecordsMode().train()
    model.dropout.eval()  # deliberately kept in eval: must survive the round trip
    x, y = torch.randn(10, 5), torch.randint(0, 3, (10,))
    logits, labels = predict_logits(model, [(x[:6], y[:6]), (x[6:], y[6:])])
    assert model.saw_training == [False, False]
    assert model.training and model.linear.training and not model.dropout.training
    assert logits.shape == (10, 3) and logits.dtype == torch.float32
    assert torch.equal(labels, y)
    with torch.no_grad():
        assert torch.allclose(logits, model.linear(x))
    assert not logits.requires_grad


def test_contract_dict_batches_with_dict_inputs(dict_model, dict_inputs):
    labels = torch.tensor([0, 1, 2, 0])
    batch = {"inputs": dict_inputs, "labels": labels, "index": torch.arange(4)}
    logits, got_labels = predict_logits(dict_model, [batch, batch])
    assert logits.shape == (8, 3)
    assert torch.equal(got_labels, torch.cat([labels, labels]))


class TinyLanguageModel(nn.Module):
    def __init__(self, vocab_size=11):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, vocab_size)

    def forward(self, x):
        return self.embed(x)  # (B, T, V)


def test_sequence_outputs_are_flattened_dropping_ignored_positions():
    model = TinyLanguageModel()
    tokens = torch.randint(0, 11, (2, 5))
    labels = tokens.clone()
    labels[0, :2] = -100
    labels[1, 4] = -100
    logits, kept = predict_logits(model, [{"inputs": tokens, "labels": labels}])
    assert logits.shape == (7, 11)
    assert torch.equal(kept, labels[labels != -100])
    assert torch.allclose(logits, model.embed(tokens)[labels != -100].detach())


def test_errors():
    model = nn.Linear(5, 3)
    with pytest.raises(KdistillError, match="no batches"):
        predict_logits(model, [])
    with pytest.raises(ShapeError):
        predict_logits(model, [(torch.randn(4, 5), torch.zeros(3, dtype=torch.long))])
