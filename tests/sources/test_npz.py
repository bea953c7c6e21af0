import pickle

import numpy as np
import pytest
import torch
from source_files import per_class

from kdistill.errors import ConfigError, DataError
from kdistill.sources import open_source, source_loader
from kdistill.sources.npz_members import LazyMemmap


@pytest.fixture(scope="module")
def arrays(fashion):
    x_train, y_train, x_test, y_test, _ = fashion
    train, test = per_class(y_train, 20), per_class(y_test, 5)
    return {"x_train": x_train[train], "y_train": y_train[train], "x_test": x_test[test], "y_test": y_test[test]}


@pytest.fixture
def npz_file(tmp_path, arrays):
    path = tmp_path / "fashion.npz"
    np.savez(path, **arrays)
    return path


def test_uncompressed_members_are_memory_mapped_and_exact(npz_file, arrays):
    source = open_source("npz", {"path": str(npz_file)})
    info = source.info
    assert (info.num_classes, info.input_shape, info.splits) == (10, (1, 28, 28), ("train", "test"))
    train = source.open("train")
    assert isinstance(train.inputs, LazyMemmap) and isinstance(train.inputs.array, np.memmap)
    for index in (0, 55, len(train) - 1):
        sample = train[index]
        assert torch.equal(sample["inputs"], torch.from_numpy(arrays["x_train"][index]).float().div(255)[None])
        assert int(sample["labels"]) == arrays["y_train"][index] and sample["index"] == index
    assert torch.equal(source.open("test").labels, torch.from_numpy(arrays["y_test"]).long())


def test_compressed_members_are_read_into_memory(tmp_path, arrays):
    path = tmp_path / "small.npz"
    np.savez_compressed(path, **arrays)
    train = open_source("npz", {"path": str(path)}).open("train")
    assert isinstance(train.inputs, np.ndarray) and not isinstance(train.inputs, np.memmap)
    assert torch.equal(train[3]["inputs"][0], torch.from_numpy(arrays["x_train"][3]).float() / 255)


def test_pickled_dataset_carries_the_location_not_the_data(npz_file, arrays):
    train = open_source("npz", {"path": str(npz_file)}).open("train")
    train[0]  # maps the file
    payload = pickle.dumps(train)
    assert len(payload) < arrays["x_train"].nbytes / 4  # labels only, not the 156 KB of pixels
    again = pickle.loads(payload)
    assert torch.equal(again[9]["inputs"], train[9]["inputs"])


@pytest.mark.slow  # a spawned worker imports torch: ~3 s
def test_spawned_workers_read_the_map(npz_file):
    train = open_source("npz", {"path": str(npz_file)}).open("train")
    batches = list(source_loader(train, 50, seed=1, num_workers=1, multiprocessing_context="spawn"))
    expected = list(source_loader(train, 50, seed=1))
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches, expected))


def test_custom_keys_layout_and_dropped_split(tmp_path):
    images = np.random.default_rng(0).random((6, 4, 5, 3), dtype=np.float32)  # (N, H, W, C)
    np.savez(tmp_path / "hwc.npz", images=images, targets=np.array([0, 1, 2, 0, 1, 2]))
    source = open_source("npz", {"path": str(tmp_path / "hwc.npz"), "x_train": "images", "y_train": "targets",
                                 "x_test": None, "y_test": None, "layout": "nhwc", "class_names": ["a", "b", "c"]})
    assert source.info.splits == ("train",) and source.info.input_shape == (3, 4, 5)
    assert source.info.class_names == ("a", "b", "c")
    assert torch.equal(source.open("train")[2]["inputs"], torch.from_numpy(images[2]).permute(2, 0, 1))


def test_fortran_order_arrays_map_correctly(tmp_path):
    features = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(4, 3))
    np.savez(tmp_path / "f.npz", x_train=features, y_train=np.array([0, 1, 0, 1]), x_test=features,
             y_test=np.array([1, 0, 1, 0]))
    train = open_source("npz", {"path": str(tmp_path / "f.npz")}).open("train")
    assert torch.equal(train[2]["inputs"], torch.tensor([6.0, 7.0, 8.0]))


def test_missing_key_lists_the_arrays(npz_file):
    with pytest.raises(DataError, match=r"has no array 'x_val'; arrays in it: x_test, x_train, y_test, y_train$"):
        _ = open_source("npz", {"path": str(npz_file), "x_val": "x_val", "y_val": "y_val"}).info


def test_errors(tmp_path, npz_file):
    with pytest.raises(DataError, match="does not exist"):
        _ = open_source("npz", {"path": str(tmp_path / "none.npz")}).info
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read .*junk.npz as an .npz archive"):
        _ = open_source("npz", {"path": str(tmp_path / "junk.npz")}).info
    np.savez(tmp_path / "short.npz", x_train=np.zeros((3, 2)), y_train=np.zeros(2, np.int64), x_test=np.zeros((1, 2)),
             y_test=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="'x_train' has 3 samples but 'y_train' has 2 labels"):
        _ = open_source("npz", {"path": str(tmp_path / "short.npz")}).info
    np.savez(tmp_path / "objects.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1, np.int64),
             x_test=np.zeros((1, 2)), y_test=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="holds Python objects"):
        _ = open_source("npz", {"path": str(tmp_path / "objects.npz")}).info
    with pytest.raises(ConfigError, match="set both x_val and y_val"):
        open_source("npz", {"path": str(npz_file), "x_val": "x_test"})
    with pytest.raises(ConfigError, match="layout must be one of"):
        open_source("npz", {"path": str(npz_file), "layout": "chw"})
    with pytest.raises(DataError, match="class_names lists 2 names"):
        _ = open_source("npz", {"path": str(npz_file), "class_names": ["a", "b"]}).info
