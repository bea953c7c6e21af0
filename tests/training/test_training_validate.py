"""Validation scores the student on the validation batches; under DDP each rank takes its share of them."""

import pytest
import torch
from torch import nn

from kdistill import distributed
from kdistill.errors import DataError
from kdistill.training import validate as validate_module
from kdistill.training.validate import validate


class Fixed(nn.Module):
    """Predicts class 0 for every input: right exactly on the samples labelled 0."""

    def forward(self, inputs):
        return torch.tensor([5.0, 0.0]).expand(len(inputs), 2)


def batches():
    # three batches of 2: labels (0, 0), (1, 1), (0, 1) -> 3 of 6 right overall
    labels = [torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([0, 1])]
    return [{"inputs": torch.zeros(2, 1), "labels": y} for y in labels]


def test_single_process_scores_every_batch():
    assert validate(Fixed(), batches())["accuracy"] == pytest.approx(0.5)


@pytest.mark.parametrize("rank, expected", [(0, 3 / 4), (1, 0.0)])
def test_each_rank_scores_every_world_size_th_batch(monkeypatch, rank, expected):
    # rank 0 takes batches 0 and 2, rank 1 batch 1; with the all-reduce replaced by the identity, each rank's
    # numbers are its own share (in a real run they are summed over ranks before dividing)
    monkeypatch.setattr(validate_module.distributed, "context", lambda: distributed.DistributedContext(rank, 2))
    assert validate(Fixed(), batches())["accuracy"] == pytest.approx(expected)


def test_a_rank_without_batches_contributes_nothing(monkeypatch):
    monkeypatch.setattr(validate_module.distributed, "context", lambda: distributed.DistributedContext(1, 2))
    with pytest.raises(DataError, match="validation set is empty"):  # alone (no all-reduce), it has nothing
        validate(Fixed(), batches()[:1])
