"""Prediction refuses what would silently become NaN metrics or a later IndexError, and shows its progress."""

import pytest
import torch
from torch import nn

import kdistill.evaluation.predict as predict_module
import kdistill.evaluation.profile as profile_module
from kdistill.errors import DataError, KdistillError, ShapeError
from kdistill.evaluation import predict_logits, profile_model
from kdistill.evaluation.checks import non_finite_summary
from kdistill.evaluation.profile import latency_ms


def linear():
    torch.manual_seed(0)
    return nn.Linear(4, 3)


def pairs(x, y, size=5):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def test_nan_inputs_are_a_data_error_naming_the_batch_and_the_count():
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    x[7, 1] = float("nan")
    with pytest.raises(DataError, match=r"test: batch 2: the input batch contains NaN/inf \(inputs: 1 NaN of 20"):
        predict_logits(linear(), pairs(x, y), desc="test")


def test_nan_outputs_on_finite_inputs_blame_the_weights():
    model = linear()
    with torch.no_grad():
        model.bias[0] = float("inf")
    with pytest.raises(KdistillError, match="outputs are NaN/inf on finite inputs"):
        predict_logits(model, pairs(torch.randn(10, 4), torch.randint(0, 3, (10,))))


def test_labels_outside_the_classes_are_a_shape_error():
    with pytest.raises(ShapeError, match=r"labels range from 0 to 3 but the model outputs 3 classes"):
        predict_logits(linear(), [(torch.randn(4, 4), torch.tensor([0, 1, 2, 3]))])


def test_ignored_positions_may_hold_minus_100():
    logits, labels = predict_logits(linear(), [(torch.randn(4, 4), torch.tensor([0, -100, 2, 1]))])
    assert labels.tolist() == [0, -100, 2, 1]


def test_non_finite_summary_looks_inside_dict_inputs_and_skips_integers():
    batch = {"inputs": {"pixels": torch.tensor([1.0, float("inf"), float("nan")]), "ids": torch.tensor([1, 2])},
             "labels": torch.tensor([0, 1])}
    assert non_finite_summary(batch) == "inputs.pixels: 1 NaN, 1 inf of 3 values"
    assert non_finite_summary({"inputs": torch.ones(2), "labels": torch.tensor([0, 1])}) is None


class RecordingBar:
    """Stands in for tqdm: remembers its arguments and updates."""

    made = []

    def __init__(self, iterable=None, **kwargs):
        self.iterable, self.kwargs, self.updates = iterable, kwargs, 0
        RecordingBar.made.append(self)

    def __iter__(self):
        return iter(self.iterable)

    def update(self, n=1):
        self.updates += n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_prediction_and_profiling_report_progress(monkeypatch):
    RecordingBar.made = []
    monkeypatch.setattr(predict_module, "tqdm", RecordingBar)
    monkeypatch.setattr(profile_module, "tqdm", RecordingBar)
    predict_logits(linear(), pairs(torch.randn(10, 4), torch.randint(0, 3, (10,))), desc="test teacher",
                   progress=True)
    profile_model(linear(), torch.randn(1, 4), (1, 8), repeats=3, desc="latency teacher", progress=True)
    predict_bar, profile_bar = RecordingBar.made
    assert predict_bar.kwargs["desc"] == "test teacher" and predict_bar.kwargs["disable"] is None
    assert profile_bar.kwargs["desc"] == "latency teacher" and profile_bar.kwargs["total"] == 2 * (5 + 3)
    assert profile_bar.updates == profile_bar.kwargs["total"]


def test_latency_calls_back_after_every_pass():
    calls = []
    latency_ms(linear(), torch.randn(1, 4), 2, repeats=4, warmup=2, on_pass=lambda: calls.append(1))
    assert len(calls) == 6
