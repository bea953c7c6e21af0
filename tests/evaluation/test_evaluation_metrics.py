import math

import pytest
import torch

from kdistill.errors import ShapeError
from kdistill.evaluation import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    error_count,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
    top1_agreement,
)


def naive_ece(probs, labels, n_bins):
    """Guo et al. 2017 written as a loop over bins and examples, in float64."""
    probs = probs.double().tolist()
    labels = labels.tolist()
    total = len(labels)
    ece = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        confidences, hits = [], []
        for row, label in zip(probs, labels):
            confidence = max(row)
            if (lo < confidence <= hi) or (b == 0 and confidence == 0.0):
                confidences.append(confidence)
                hits.append(float(row.index(confidence) == label))
        if confidences:
            gap = abs(sum(hits) / len(hits) - sum(confidences) / len(confidences))
            ece += len(confidences) / total * gap
    return ece


@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_ece_matches_naive_loop(n_bins):
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(500, 7, generator=generator)
    labels = torch.randint(0, 7, (500,), generator=generator)
    probs = logits.softmax(dim=1)
    expected = naive_ece(probs, labels, n_bins)
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(expected, abs=1e-9)


def test_ece_zero_when_perfectly_calibrated():
    # 10 rows at confidence 0.6 with 6 right, 10 at 0.8 with 8 right, 4 at 1.0 all right:
    # in every bin accuracy equals confidence.
    rows, labels = [], []
    for confidence, n_rows, n_right in [(0.6, 10, 6), (0.8, 10, 8), (1.0, 4, 4)]:
        for i in range(n_rows):
            rows.append([confidence, 1 - confidence])  # always predicts class 0
            labels.append(0 if i < n_right else 1)
    ece = expected_calibration_error(torch.tensor(rows), torch.tensor(labels), n_bins=10)
    assert ece == pytest.approx(0.0, abs=1e-6)


def test_reliability_bins_counts_and_empty_bins():
    probs = torch.tensor([[0.95, 0.05], [0.55, 0.45], [0.52, 0.48]])
    bins = reliability_bins(probs, torch.tensor([0, 1, 0]), n_bins=10)
    assert bins["count"].sum() == 3
    assert bins["count"][9] == 1 and bins["count"][5] == 2
    assert bins["accuracy"][5].item() == pytest.approx(0.5)
    assert bins["confidence"][5].item() == pytest.approx(0.535)
    assert torch.isnan(bins["accuracy"][0]) and torch.isnan(bins["confidence"][0])
    assert bins["edges"].shape == (11,)


def naive_nll(logits, labels):
    logits = logits.double()
    total = 0.0
    for row, label in zip(logits, labels):
        top = row.max()
        total += -(row[label] - top - torch.log(torch.exp(row - top).sum())).item()
    return total / len(labels)


@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_nll_matches_float64_reference_and_is_finite(scale):
    generator = torch.Generator().manual_seed(1)
    logits = scale * torch.randn(64, 10, generator=generator)
    labels = torch.randint(0, 10, (64,), generator=generator)
    nll = negative_log_likelihood(logits, labels)
    assert math.isfinite(nll)
    assert nll == pytest.approx(naive_nll(logits, labels), rel=1e-5)


def test_nll_accepts_half_precision_logits():
    logits = torch.randn(16, 5).to(torch.bfloat16)
    labels = torch.randint(0, 5, (16,))
    assert negative_log_likelihood(logits, labels) == pytest.approx(naive_nll(logits.float(), labels), rel=1e-5)


def test_accuracy_and_error_count():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.1, 0.2]])
    labels = torch.tensor([0, 1, 1, 0])
    assert accuracy(logits, labels) == pytest.approx(0.5)
    assert error_count(logits, labels) == 2


def test_agreement():
    logits = torch.randn(50, 4)
    assert top1_agreement(logits, logits.clone()) == 1.0
    flipped = logits[:, [1, 0, 2, 3]]  # swaps the predictions of classes 0 and 1
    expected = (logits.argmax(1) == flipped.argmax(1)).double().mean().item()
    assert top1_agreement(logits, flipped) == pytest.approx(expected)
    with pytest.raises(ShapeError):
        top1_agreement(logits, logits[:, :3])


def test_confusion_matrix_matches_naive_loop():
    generator = torch.Generator().manual_seed(2)
    pred = torch.randint(0, 6, (300,), generator=generator)
    labels = torch.randint(0, 6, (300,), generator=generator)
    expected = torch.zeros(6, 6, dtype=torch.int64)
    for p, t in zip(pred.tolist(), labels.tolist()):
        expected[t, p] += 1
    assert torch.equal(confusion_matrix(pred, labels, 6), expected)


def test_classification_metrics_keys_and_values():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(40, 3, generator=generator)
    labels = torch.randint(0, 3, (40,), generator=generator)
    result = classification_metrics(logits, labels)
    assert set(result) == {"accuracy", "errors", "count", "nll", "ece", "agreement"}
    assert result["agreement"] is None
    assert result["count"] == 40
    assert result["errors"] == error_count(logits, labels)
    assert classification_metrics(logits, labels, teacher_logits=logits)["agreement"] == 1.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ShapeError, match="expected scores"):
        accuracy(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
