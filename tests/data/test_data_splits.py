import pytest
import torch

from kdistill.data.splits import split_validation, subset, subset_indices
from kdistill.errors import ConfigError


@pytest.fixture
def arrays():
    images = torch.arange(200, dtype=torch.float32).view(200, 1, 1, 1)  # image value == sample id
    labels = torch.tensor([0] * 100 + [1] * 60 + [2] * 40)
    return images, labels


def test_split_validation_is_disjoint_sized_and_seeded(arrays):
    train_x, train_y, val_x, val_y = split_validation(*arrays, val_size=30, seed=0)
    assert (len(train_x), len(train_y), len(val_x), len(val_y)) == (170, 170, 30, 30)
    train_ids, val_ids = set(train_x.flatten().tolist()), set(val_x.flatten().tolist())
    assert not train_ids & val_ids and len(train_ids | val_ids) == 200
    assert torch.equal(val_y, arrays[1][val_x.flatten().long()])
    again = split_validation(*arrays, val_size=30, seed=0)
    assert torch.equal(again[2], val_x)
    assert not torch.equal(split_validation(*arrays, val_size=30, seed=1)[2], val_x)


@pytest.mark.parametrize("val_size", [0, 200])
def test_split_validation_rejects_bad_sizes(arrays, val_size):
    with pytest.raises(ConfigError, match="val_size"):
        split_validation(*arrays, val_size=val_size, seed=0)


def test_stratified_subset_keeps_class_shares(arrays):
    index = subset_indices(arrays[1], 0.1, seed=0)
    assert torch.bincount(arrays[1][index]).tolist() == [10, 6, 4]
    assert len(subset_indices(arrays[1], 7, seed=0)) == 7
    assert len(subset_indices(arrays[1], 7, seed=0).unique()) == 7
    images, labels = subset(*arrays, 50, seed=3, stratified=False)
    assert len(images) == 50 and torch.equal(labels, arrays[1][images.flatten().long()])


def test_subset_rejects_bad_sizes(arrays):
    with pytest.raises(ConfigError):
        subset_indices(arrays[1], 1.5, seed=0)
    with pytest.raises(ConfigError):
        subset_indices(arrays[1], 0, seed=0)
