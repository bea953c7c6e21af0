import os
import pickle

import numpy as np
import pytest
import torch
from source_files import fashion_as_cifar, per_class, write_cifar10, write_py2_pickle

from kdistill.errors import ConfigError, DataError
from kdistill.sources import open_source

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def cifar10(tmp_path_factory, fashion):
    """A cifar-10-batches-py folder in the real (Python 2 pickle) format: 5 batches of 12 + a test batch of 15."""
    x_train, y_train, _, _, _ = fashion
    ids = per_class(y_train, 8)[:75]
    root = tmp_path_factory.mktemp("cifar")
    images = write_cifar10(root / "cifar-10-batches-py", x_train[ids], y_train[ids], CIFAR10_NAMES, batch_size=12)
    return root, images, y_train[ids]


def test_cifar10_reads_batches_in_order_with_rgb_planes(cifar10):
    root, images, labels = cifar10
    source = open_source("cifar10", {"root": str(root)})  # the parent folder is found too
    assert source.info.class_names == tuple(CIFAR10_NAMES) and source.info.input_shape == (3, 32, 32)
    train, test = source.open("train"), source.open("test")
    assert (len(train), len(test)) == (60, 15)
    assert torch.equal(train.labels, torch.from_numpy(labels[:60]).long())
    for dataset, offset in ((train, 0), (test, 60)):
        for index in (0, 13, len(dataset) - 1):
            expected = torch.from_numpy(images[offset + index]).float() / 255  # (3, 32, 32): R, G, B planes
            assert torch.equal(dataset[index]["inputs"], expected)
    assert not torch.equal(train[0]["inputs"][0], train[0]["inputs"][1])  # the planes differ


def test_cifar100_fine_and_coarse_labels(tmp_path, fashion):
    x_train = fashion[0]
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    images = fashion_as_cifar(x_train[:30])
    fine, coarse = (np.arange(30) * 7) % 100, (np.arange(30) * 3) % 20
    for name, part in (("train", slice(0, 20)), ("test", slice(20, 30))):
        write_py2_pickle(folder / name, {b"data": images[part].reshape(-1, 3072), b"fine_labels": fine[part].tolist(),
                                         b"coarse_labels": coarse[part].tolist(), b"batch_label": b"x"})
    write_py2_pickle(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                       b"coarse_label_names": [f"c{i}".encode() for i in range(20)]})
    fine_source = open_source("cifar100", {"root": str(folder)})
    coarse_source = open_source("cifar100", {"root": str(folder), "labels": "coarse"})
    assert fine_source.info.num_classes == 100 and coarse_source.info.num_classes == 20
    assert torch.equal(fine_source.open("test").labels, torch.from_numpy(fine[20:]))
    assert torch.equal(coarse_source.open("train").labels, torch.from_numpy(coarse[:20]))
    assert torch.equal(coarse_source.open("test")[4]["inputs"], torch.from_numpy(images[24]).float() / 255)
    with pytest.raises(ConfigError, match="labels must be 'fine' or 'coarse'"):
        open_source("cifar100", {"root": str(folder), "labels": "medium"})


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_batch_naming_another_global_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, np.zeros((6, 28, 28), np.uint8), np.zeros(6, np.int64), CIFAR10_NAMES, batch_size=1)
    (folder / "data_batch_2").write_bytes(pickle.dumps({"data": _Exploit()}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_2: refusing to unpickle global .*system"):
        open_source("cifar10", {"root": str(folder)}).open("train")


def test_missing_and_malformed_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, np.zeros((6, 28, 28), np.uint8), np.zeros(6, np.int64), CIFAR10_NAMES, batch_size=1)
    (folder / "data_batch_4").unlink()
    with pytest.raises(DataError, match="CIFAR batch file .*data_batch_4 is missing"):
        open_source("cifar10", {"root": str(folder)}).open("train")
    write_py2_pickle(folder / "data_batch_4", {b"data": np.zeros((1, 100), np.uint8), b"labels": [0]})
    with pytest.raises(DataError, match=r"'data' must be uint8 \(N, 3072\)"):
        open_source("cifar10", {"root": str(folder)}).open("train")
    (folder / "data_batch_4").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="cannot read CIFAR batch .*data_batch_4"):
        open_source("cifar10", {"root": str(folder)}).open("train")
    with pytest.raises(DataError, match="does not exist"):
        _ = open_source("cifar10", {"root": str(tmp_path / "nowhere")}).info


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Exploit(), protocol=2),
    pickle.dumps(eval, protocol=2),
    pickle.dumps(np.load, protocol=2),  # numpy, but not an array constructor
    pickle.dumps(np.arange(3), protocol=5),  # protocol 5 rebuilds arrays through _frombuffer: not a CIFAR file
])
def test_cifar_unpickler_refuses_every_other_global(payload):
    from kdistill.sources.cifar_pickle import load_cifar_pickle

    with pytest.raises(DataError, match="refusing to unpickle global"):
        load_cifar_pickle(payload)


def test_python3_protocol2_copies_load(tmp_path):
    from kdistill.sources.cifar_pickle import load_cifar_pickle

    batch = {"data": np.arange(3072 * 2, dtype=np.uint8).reshape(2, 3072) % 251, "labels": [3, 4], "name": b"x"}
    loaded = load_cifar_pickle(pickle.dumps(batch, protocol=2))
    assert np.array_equal(loaded["data"], batch["data"]) and loaded["labels"] == [3, 4] and loaded["name"] == b"x"


@pytest.mark.slow
def test_the_lecture_cifar10_experiment_runs_on_the_users_files(cifar10, tmp_path):
    """The shipped omitted-class-cifar10 spec and cifar10 recipe, pointed at a folder in the real format (tiny)."""
    from kdistill.cli import main
    from kdistill.procedures.spec import load_spec, run_spec

    root, _, _ = cifar10
    small = ["args.teacher_model={model: cnn, model_args: {channels: [4, 8]}}", "args.teacher_train.epochs=1",
             "args.train.epochs=1", "args.student_model.model_args={channels: [4, 4, 4], hidden: 8}",
             "data.val_size=15", f"data.options.root={root}"]
    result = run_spec(load_spec("omitted-class-cifar10", small), tmp_path / "procedure")
    assert result["omitted"] == [7]
    status = main(["run", "cifar10", f"data.options.root={root}", "data.val_size=15", "teacher.model=cnn",
                   "teacher.model_args={channels: [4, 8]}", "teacher.train.epochs=1", "student.train.epochs=1",
                   "student.model_args={channels: [4, 4, 4], hidden: 8}", "report.latency_repeats=1",
                   "report.plots=false", "--run-dir", str(tmp_path / "run")])
    assert status == 0 and (tmp_path / "run" / "report.json").exists()


def test_the_cifar10_recipe_without_the_files_is_one_line(tmp_path, capsys):
    from kdistill.cli import main

    status = main(["run", "cifar10", f"data.options.root={tmp_path / 'nowhere'}", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "CIFAR folder" in err and "\n" not in err and not (tmp_path / "r").exists()


def test_root_may_start_with_a_tilde(cifar10, tmp_path, monkeypatch):
    """Recipes ship `root: ~/data/cifar-10-batches-py`: the user's home must be expanded, not taken literally."""
    from kdistill.sources import open_source

    root, images, labels = cifar10
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "cifar").symlink_to(root)
    monkeypatch.setenv("HOME", str(home))
    source = open_source("cifar10", {"root": "~/data/cifar"})
    assert len(source.open("train")) + len(source.open("test")) == len(labels)
