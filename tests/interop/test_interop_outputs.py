"""Models that return a tuple or a dict with "logits" train, distil, evaluate and teach like tensor-returning ones;
CRD runs on a plain DataLoader through kdistill.with_index and, without it, stops with a one-line error."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import kdistill
from kdistill.errors import ShapeError
from kdistill.teachers import ClassSubsetTeacher, EnsembleTeacher, FrozenTeacher


class TupleModel(nn.Module):
    """Returns (logits (B, C), features (B, H)), like a return_dict=False Hugging Face model."""

    def __init__(self, in_features=4, hidden=16, num_classes=2):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        features = self.body(x)
        return self.head(features), features


class DictModel(TupleModel):
    """Returns {"logits": (B, C), "features": (B, H)}."""

    def forward(self, x):
        logits, features = super().forward(x)
        return {"features": features, "logits": logits}


def blobs(n=256, seed=0):
    """Two separable Gaussian blobs in 4-d: (x (n, 4), y (n,))."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=generator) + 2.0 * (2 * y[:, None] - 1)
    return x, y


def loader(dataset, shuffle=True):
    return DataLoader(dataset, batch_size=32, shuffle=shuffle, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("model_class", [TupleModel, DictModel])
def test_fit_distill_and_evaluate_accept_tuple_and_dict_outputs(model_class):
    torch.manual_seed(0)
    train, val = loader(TensorDataset(*blobs())), loader(TensorDataset(*blobs(seed=1)), shuffle=False)
    teacher = model_class()
    kdistill.fit(teacher, train, val, epochs=2, lr=0.1)
    assert kdistill.evaluate(teacher, val)["accuracy"] > 0.9
    student = model_class(hidden=4)
    result = kdistill.distill(teacher, student, train, val, epochs=2, lr=0.1, temperature=2.0)
    assert len(result.history) == 2
    assert kdistill.evaluate(student, val, teacher=teacher)["agreement"] > 0.9


@pytest.mark.parametrize("model_class", [TupleModel, DictModel])
def test_teachers_return_the_logits_of_tuple_and_dict_models(model_class):
    torch.manual_seed(0)
    model = model_class(num_classes=3)
    batch = {"inputs": torch.randn(5, 4)}
    expected = model(batch["inputs"])
    expected = expected[0] if isinstance(expected, tuple) else expected["logits"]
    torch.testing.assert_close(FrozenTeacher(model)(batch), expected)
    torch.testing.assert_close(ClassSubsetTeacher(model, [2, 0])(batch), expected[:, [2, 0]])
    torch.testing.assert_close(EnsembleTeacher([model, FrozenTeacher(model)], combine="logits")(batch), expected)


def test_a_model_returning_something_else_stops_fit_with_a_one_line_error():
    class Scores(TupleModel):
        def forward(self, x):
            return {"scores": super().forward(x)[0]}

    with pytest.raises(ShapeError) as error:
        kdistill.fit(Scores(), loader(TensorDataset(*blobs())), epochs=1)
    assert "\n" not in str(error.value) and "['scores']" in str(error.value)


def mlp(hidden):
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def test_crd_runs_on_a_plain_dataloader_through_with_index():
    torch.manual_seed(0)
    dataset = TensorDataset(*blobs(128))
    teacher, student = mlp(16), mlp(8)
    kdistill.fit(teacher, loader(dataset), epochs=1, lr=0.1)
    result = kdistill.distill(teacher, student, loader(kdistill.with_index(dataset)), method="crd",
                              layers=[["1", "1"]], embed_dim=8, nce_k=32, epochs=2, lr=0.05)
    assert [set(record) >= {"train_crd", "train_loss"} for record in result.history] == [True, True]
    assert all(torch.isfinite(torch.tensor(record["train_loss"])) for record in result.history)


def test_crd_without_sample_ids_is_a_one_line_error_naming_the_adapter():
    dataset = TensorDataset(*blobs(64))
    with pytest.raises(ShapeError) as error:
        kdistill.distill(mlp(16), mlp(8), loader(dataset), method="crd", layers=[["1", "1"]], embed_dim=8,
                         nce_k=16, epochs=1)
    message = str(error.value)
    assert "\n" not in message and "'index'" in message and "kdistill.with_index(dataset)" in message
