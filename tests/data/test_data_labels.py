import pytest
import torch

from kdistill.data import DATASETS, ImageDataset, load_dataset
from kdistill.data.labels import check_label_range
from kdistill.errors import DataError


def test_labels_in_range_pass():
    check_label_range(torch.tensor([0, 1, 2]), 3, "train", "fix it")


def test_out_of_range_labels_are_counted():
    with pytest.raises(DataError, match=r"^train: 2 of 4 labels are outside 0..2 \(min -1, max 3\); fix it$"):
        check_label_range(torch.tensor([0, -1, 2, 3]), 3, "train", "fix it")


def test_load_dataset_refuses_out_of_range_labels(monkeypatch):
    def bad_labels(download=True):
        """Three classes, one label 3."""
        images = torch.zeros(4, 1, 2, 2)
        return ImageDataset("bad", images, torch.tensor([0, 1, 2, 3]), images, torch.tensor([0, 1, 2, 2]), 3,
                            ["a", "b", "c"])  # fmt: skip

    monkeypatch.setitem(DATASETS._builders, "bad-labels", bad_labels)
    with pytest.raises(DataError, match=r"bad-labels training set: 1 of 4 labels are outside 0..2.*'bad-labels'"):
        load_dataset("bad-labels")
