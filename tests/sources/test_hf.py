import sys

import numpy as np
import pytest
import torch
from source_files import per_class

from kdistill.errors import DataError
from kdistill.sources import open_source

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def fashion_hf(tmp_path_factory, fashion):
    """Real Fashion-MNIST images as a datasets Image column with ClassLabel labels: a DatasetDict and a Dataset."""
    from PIL import Image

    x_train, y_train, x_test, y_test, names = fashion
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names),
                                  "pixels_sum": datasets.Value("float32"), "tokens": datasets.Sequence(
                                      datasets.Value("int64"), length=3)})

    def table(images, labels):
        return datasets.Dataset.from_dict({
            "image": [Image.fromarray(image) for image in images], "label": labels.tolist(),
            "pixels_sum": images.reshape(len(images), -1).sum(1).astype(np.float32).tolist(),
            "tokens": [[int(label), 7, 9] for label in labels]}, features=features)

    train, test = per_class(y_train, 6), per_class(y_test, 3)
    root = tmp_path_factory.mktemp("hf")
    datasets.disable_progress_bars()
    splits = datasets.DatasetDict({"train": table(x_train[train[:50]], y_train[train[:50]]),
                                   "validation": table(x_train[train[50:]], y_train[train[50:]]),
                                   "test": table(x_test[test], y_test[test])})
    splits.save_to_disk(str(root / "dict"))
    table(x_train[train], y_train[train]).save_to_disk(str(root / "single"))
    return root, x_train[train], y_train[train], x_test[test], names


def test_dataset_dict_splits_and_exact_images(fashion_hf):
    root, x_train, y_train, x_test, names = fashion_hf
    source = open_source("hf-datasets", {"path": str(root / "dict")})
    info = source.info
    assert info.splits == ("train", "val", "test") and info.class_names == tuple(names)
    assert info.input_shape == (1, 28, 28)
    train, val, test = (source.open(split) for split in info.splits)
    assert (len(train), len(val), len(test)) == (50, 10, 30)
    assert torch.equal(train[7]["inputs"], torch.from_numpy(x_train[7]).float().div(255)[None])
    assert int(train[7]["labels"]) == y_train[7] and train[7]["index"] == 7
    assert torch.equal(val[2]["inputs"][0], torch.from_numpy(x_train[52]).float() / 255)
    assert torch.equal(test[29]["inputs"][0], torch.from_numpy(x_test[29]).float() / 255)


def test_single_dataset_is_split_stratified(fashion_hf):
    root, _, _, _, _ = fashion_hf
    source = open_source("hf-datasets", {"path": str(root / "single"), "test_fraction": 0.5, "color": "rgb",
                                         "resize": [14, 14]})
    assert source.info.splits == ("train", "test") and source.info.input_shape == (3, 14, 14)
    test = source.open("test")
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 3))
    assert test[0]["inputs"].shape == (3, 14, 14)


def test_several_input_columns_give_a_dict(fashion_hf):
    root, x_train, y_train, _, _ = fashion_hf
    source = open_source("hf-datasets", {"path": str(root / "dict"), "inputs": ["pixels_sum", "tokens"]})
    assert source.info.input_shape == {"pixels_sum": (), "tokens": (3,)}
    sample = source.open("train")[4]["inputs"]
    assert sample["pixels_sum"].dtype == torch.float32 and float(sample["pixels_sum"]) == float(x_train[4].sum())
    assert sample["tokens"].dtype == torch.int64 and sample["tokens"].tolist() == [int(y_train[4]), 7, 9]


def test_string_labels_are_numbered_in_sorted_order(tmp_path):
    table = datasets.Dataset.from_dict({"x": [[1.0, 2.0]] * 6, "kind": ["b", "a", "c", "a", "b", "c"]})
    table.save_to_disk(str(tmp_path / "s"))
    source = open_source("hf-datasets", {"path": str(tmp_path / "s"), "inputs": "x", "label": "kind",
                                         "test_fraction": 0.0})
    assert source.info.class_names == ("a", "b", "c")
    assert source.open("train").labels.tolist() == [1, 0, 2, 0, 1, 2]


def test_missing_column_lists_the_columns(fashion_hf):
    root, _, _, _, _ = fashion_hf
    with pytest.raises(DataError, match=r"column 'img' is not in .*; columns: image, label, pixels_sum, tokens$"):
        _ = open_source("hf-datasets", {"path": str(root / "dict"), "inputs": "img"}).info


def test_not_a_saved_dataset(tmp_path):
    with pytest.raises(DataError, match="is not a folder written by datasets' save_to_disk"):
        _ = open_source("hf-datasets", {"path": str(tmp_path)}).info


def test_clear_message_without_the_datasets_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(DataError, match=r"needs the `datasets` package; .*`pip install 'kdistill\[hf\]'`"):
        _ = open_source("hf-datasets", {"path": str(tmp_path)}).info


def test_workers_read_the_arrow_rows(fashion_hf):
    from kdistill.sources import source_loader

    root, _, _, _, _ = fashion_hf
    train = open_source("hf-datasets", {"path": str(root / "dict")}).open("train")
    main = list(source_loader(train, 16, seed=2))
    workers = list(source_loader(train, 16, seed=2, num_workers=2))
    assert all(torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["labels"], b["labels"])
               for a, b in zip(main, workers, strict=True))
