import argparse

import numpy as np
import pytest
import torch

from kdistill.data import DATASETS, ImageDataset, add_data_commands, load_dataset, run_data_command
from kdistill.data.manifest import write_record
from kdistill.data.mnist import MNIST, mnist_cache_path
from kdistill.data.npz import save_npz_atomic
from kdistill.data.sources import source_record
from kdistill.errors import DataError

FETCHABLE = ["mnist", "fashion-mnist"]


def test_registered_datasets_have_descriptions():
    assert {"mnist", "fashion-mnist", "digits"} <= set(DATASETS.names())
    assert all(description for description in DATASETS.describe().values())


def test_digits_loads_with_right_shapes():
    dataset = load_dataset("digits")
    assert isinstance(dataset, ImageDataset)
    assert dataset.train_images.shape == (1437, 1, 8, 8) and dataset.test_images.shape == (360, 1, 8, 8)
    assert dataset.train_images.dtype == torch.float32 and dataset.train_labels.dtype == torch.int64
    assert 0 <= dataset.train_images.min() and dataset.train_images.max() <= 1
    assert dataset.input_shape == (1, 8, 8) and dataset.num_classes == 10 and len(dataset.class_names) == 10
    assert torch.equal(load_dataset("digits").test_labels, dataset.test_labels)  # fixed split


@pytest.mark.parametrize("name", FETCHABLE)
def test_missing_dataset_names_the_fetch_command(name, monkeypatch):
    import kdistill.data.fashion_mnist as fashion

    monkeypatch.setattr(fashion, "SYSTEM_DIR", fashion.SYSTEM_DIR.with_name("not-installed"))
    with pytest.raises(DataError, match=f"kdistill data fetch {name}"):
        load_dataset(name, download=False)


def test_unknown_dataset_lists_choices():
    with pytest.raises(Exception, match="mnist"):
        load_dataset("cifar10")


def test_cache_with_wrong_shapes_is_reported():
    """Even a cache that matches its checksum record is checked against the schema."""
    save_npz_atomic(mnist_cache_path(), x_train=np.zeros((3, 28, 28), np.uint8))
    write_record(mnist_cache_path(), {"dataset": "mnist", "converter_version": MNIST.version,
                                      "source": source_record("mnist")})  # fmt: skip
    with pytest.raises(DataError, match=r"expected uint8\(60000, 28, 28\).*kdistill data fetch mnist"):
        load_dataset("mnist", download=False)


def test_cli_list(capsys):
    parser = argparse.ArgumentParser(prog="kdistill")
    add_data_commands(parser.add_subparsers(dest="command"))
    assert run_data_command(parser.parse_args(["data", "list"])) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS.names()) and "missing" in out


@pytest.mark.slow
def test_real_mnist(user_data_dir):
    dataset = load_dataset("mnist")
    assert dataset.train_images.shape == (60_000, 1, 28, 28) and dataset.test_images.shape == (10_000, 1, 28, 28)
    assert dataset.num_classes == 10 and sorted(dataset.train_labels.unique().tolist()) == list(range(10))
    assert dataset.train_labels[:5].tolist() == [5, 0, 4, 1, 9] and dataset.test_labels[:3].tolist() == [7, 2, 1]
    assert dataset.train_images.max() == 1.0 and dataset.train_images.min() == 0.0
    with np.load(mnist_cache_path(), allow_pickle=False) as cache:
        assert cache["x_train"].dtype == np.uint8 and cache["x_train"].shape == (60_000, 28, 28)


@pytest.mark.slow
def test_real_fashion_mnist(user_data_dir):
    dataset = load_dataset("fashion-mnist")
    assert dataset.train_images.shape == (60_000, 1, 28, 28) and dataset.test_images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(dataset.train_labels).tolist() == [6000] * 10
    assert dataset.class_names[0] == "T-shirt/top" and dataset.class_names[9] == "Ankle boot"
