"""Every registered source, on a small real-format input, against the contract: a new source needs an entry here."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from source_files import per_class, write_cifar10, write_pngs, write_py2_pickle, write_text_csv, write_word_tokenizer

from kdistill.errors import ConfigError
from kdistill.sources import DATA_SOURCES, SourceInfo, open_source, source_loader, source_options


def image_folder(tmp_path, fashion):
    x, y, _, _, names = fashion
    ids = per_class(y, 5)
    write_pngs(tmp_path / "images", x[ids], y[ids], names, ids)
    return {"root": str(tmp_path / "images")}


def npz(tmp_path, fashion):
    x, y, x_test, y_test, _ = fashion
    np.savez(tmp_path / "a.npz", x_train=x[:40], y_train=y[:40], x_test=x_test[:10], y_test=y_test[:10])
    return {"path": str(tmp_path / "a.npz")}


def table(tmp_path, fashion):
    x, y, _, _, _ = fashion
    frame = pd.DataFrame(x[:60, 14, :8].astype(np.float32), columns=[f"p{i}" for i in range(8)]).assign(label=y[:60])
    frame.to_csv(tmp_path / "t.csv", index=False)
    return {"path": str(tmp_path / "t.csv"), "target": "label", "test_fraction": 0.1}


def hf_datasets(tmp_path, fashion):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    x, y, _, _, names = fashion
    datasets.disable_progress_bars()
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    table = datasets.Dataset.from_dict({"image": [Image.fromarray(i) for i in x[:20]], "label": y[:20].tolist()},
                                       features=features)
    datasets.DatasetDict({"train": table, "test": table}).save_to_disk(str(tmp_path / "hf"))
    return {"path": str(tmp_path / "hf")}


def cifar10(tmp_path, fashion):
    x, y, _, _, _ = fashion
    write_cifar10(tmp_path / "c10", x[:18], y[:18], [f"c{i}" for i in range(10)], batch_size=3)
    return {"root": str(tmp_path / "c10")}


def cifar100(tmp_path, fashion):
    x, _, _, _, _ = fashion
    folder = tmp_path / "c100"
    folder.mkdir()
    rows = np.zeros((8, 3072), np.uint8)
    rows[:, :784] = x[:8].reshape(8, -1)
    for name in ("train", "test"):
        write_py2_pickle(folder / name, {b"data": rows, b"fine_labels": list(range(8)), b"coarse_labels": [0] * 8})
    write_py2_pickle(folder / "meta", {b"fine_label_names": [b"f%d" % i for i in range(100)],
                                       b"coarse_label_names": [b"c%d" % i for i in range(20)]})
    return {"root": str(folder)}


def text(tmp_path, fashion):
    pytest.importorskip("transformers")
    _, y, _, _, names = fashion
    words = [name.lower().replace("/", " ").split()[0] for name in names]
    write_text_csv(tmp_path / "t.csv", [f"a {words[label]} here" for label in y[:40]], y[:40].tolist())
    return {"corpus": str(tmp_path / "t.csv"), "tokenizer": str(write_word_tokenizer(tmp_path / "tok", words)),
            "max_length": 6, "val_fraction": 0.1, "test_fraction": 0.1}


def lm_text(tmp_path, fashion):
    pytest.importorskip("transformers")
    _, y, _, _, names = fashion
    words = [name.lower().replace("/", " ").split()[0] for name in names]
    (tmp_path / "docs").mkdir()
    for index in range(10):
        (tmp_path / "docs" / f"{index}.txt").write_text(" ".join(words[label] for label in y[20 * index:20 * index + 20]))
    return {"corpus": str(tmp_path / "docs"), "tokenizer": str(write_word_tokenizer(tmp_path / "tok", words)),
            "block_length": 8, "val_fraction": 0.2, "test_fraction": 0.2}


FACTORIES = {
    "image-folder": image_folder, "npz": npz, "table": table, "hf-datasets": hf_datasets, "cifar10": cifar10,
    "cifar100": cifar100, "text": text, "lm-text": lm_text,
    "mnist": lambda tmp_path, fashion: {}, "fashion-mnist": lambda tmp_path, fashion: {},
    "digits": lambda tmp_path, fashion: {},
}


def test_every_source_has_a_fixture_and_a_description():
    assert set(FACTORIES) == set(DATA_SOURCES.names())
    assert all(DATA_SOURCES.describe().values())


@pytest.mark.parametrize("name", DATA_SOURCES.names())
def test_source_contract(name, tmp_path, fashion):
    source = open_source(name, FACTORIES[name](tmp_path, fashion))
    info = source.info
    assert isinstance(info, SourceInfo) and len(info.class_names) == info.num_classes and "train" in info.splits
    for split in info.splits:
        dataset = source.open(split)
        assert isinstance(dataset, torch.utils.data.Dataset) and len(dataset) > 0
        assert dataset.labels.dtype == torch.int64 and len(dataset.labels) == len(dataset)
        for index in (0, len(dataset) - 1):
            sample = dataset[index]
            assert set(sample) == {"inputs", "labels", "index"} and sample["index"] == index
            labels = sample["labels"]
            if getattr(type(source), "task", None) == "language-model":  # next-token ids per position, -100 at the end
                assert labels.dtype == torch.int64 and labels.shape == sample["inputs"]["input_ids"].shape
                assert ((labels >= 0) & (labels < info.num_classes) | (labels == -100)).all()
            else:
                assert labels.dtype == torch.int64 and 0 <= int(labels) < info.num_classes
                assert int(labels) == int(dataset.labels[index])
            if isinstance(info.input_shape, dict):  # several inputs (text: token ids and attention mask)
                assert set(sample["inputs"]) == set(info.input_shape)
                assert all(tuple(value.shape) == info.input_shape[key] for key, value in sample["inputs"].items())
            else:
                assert sample["inputs"].dtype == torch.float32 and tuple(sample["inputs"].shape) == info.input_shape
        assert dataset[-1]["index"] == len(dataset) - 1
        with pytest.raises(IndexError):
            dataset[len(dataset)]
    batch = next(iter(source_loader(source.open("train"), 4, seed=0)))
    size = min(4, len(source.open("train")))
    if isinstance(info.input_shape, dict):  # each batch is trimmed to its longest sequence
        assert all(value.shape[0] == size and value.shape[1] <= info.input_shape[key][0]
                   for key, value in batch["inputs"].items())
    else:
        assert batch["inputs"].shape == (size, *info.input_shape)
    with pytest.raises(ConfigError, match="split 'nope' is not available"):
        source.open("nope")


@pytest.mark.parametrize("name", DATA_SOURCES.names())
def test_unknown_option_lists_the_valid_ones(name):
    valid = ", ".join(source_options(name))
    with pytest.raises(ConfigError, match=f"unknown key 'data.options.colour' in data.options; valid keys: {valid}$"):
        open_source(name, {"colour": "red"})


@pytest.mark.parametrize("name", DATA_SOURCES.names())
def test_wrong_type_names_the_key(name, tmp_path, fashion):
    required = {key: "x" for key, default in source_options(name).items() if default is dataclasses.MISSING}
    for key in source_options(name):
        with pytest.raises(ConfigError, match=f"'data.options.{key}' must be"):
            open_source(name, {**required, key: {"not": "valid"}})


def test_missing_required_option_and_unknown_source():
    with pytest.raises(ConfigError, match="'data.options.target' is required; valid keys: .*path, target"):
        open_source("table", {"path": "t.csv"})
    with pytest.raises(ConfigError, match="unknown data source 'imagenet'; choose one of: cifar10, cifar100"):
        open_source("imagenet")


def test_every_path_option_expands_the_users_home(tmp_path, monkeypatch):
    """`~` in root/path options is the user's home for every file-backed source (one helper: sources.base.user_path)."""
    import numpy as np

    from kdistill.sources import open_source

    monkeypatch.setenv("HOME", str(tmp_path))
    np.savez(tmp_path / "a.npz", x_train=np.zeros((4, 2, 2), np.uint8), y_train=np.array([0, 1, 0, 1]),
             x_test=np.zeros((2, 2, 2), np.uint8), y_test=np.array([0, 1]))
    (tmp_path / "t.csv").write_text("f,label\n0.1,0\n0.2,1\n0.3,0\n0.4,1\n0.5,0\n0.6,1\n0.7,0\n0.8,1\n0.9,0\n1.0,1\n")
    assert len(open_source("npz", {"path": "~/a.npz"}).open("train")) == 4
    assert open_source("table", {"path": "~/t.csv", "target": "label"}).info.num_classes == 2
