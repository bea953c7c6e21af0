"""`kdistill run` trains teacher -> baseline -> distilled student on the user's own files: an image folder of real
Fashion-MNIST PNGs, an .npz, a CSV table and a saved Hugging Face `datasets` folder - through one recipe key."""

import json

import numpy as np
import pytest

from kdistill.cli import main
from kdistill.config import load_recipe
from kdistill.errors import ConfigError
from kdistill.experiment.check import check_recipe

PER_CLASS_TRAIN, PER_CLASS_TEST = 30, 10
FAST = [
    "data.val_size=60", "teacher.train.epochs=4", "student.train.epochs=8", "distill.method_args.temperature=4", "teacher.model_args.hidden=[64]",
    "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null", "teacher.jitter=0",
    "teacher.model_args.dropout=0.0", "teacher.model_args.input_dropout=0.0",
    "teacher.train.batch_size=32", "student.train.batch_size=32", "report.latency_repeats=1",
    "report.latency_batch_sizes=[1]", "report.plots=false",
]


@pytest.fixture(scope="module")
def fashion_subset():
    """Real Fashion-MNIST: uint8 (N, 28, 28) images, labels, class names - a few per class."""
    from kdistill.data import load_dataset

    data = load_dataset("fashion-mnist")
    labels = data.train_labels.numpy()
    chosen = np.concatenate([np.flatnonzero(labels == c)[:PER_CLASS_TRAIN + PER_CLASS_TEST] for c in range(10)])
    images = data.train_images[chosen].squeeze(1).mul(255).round().byte().numpy()
    return images, labels[chosen], list(data.class_names)


def write_png_folders(root, images, labels, names):
    from PIL import Image

    seen = {}
    for index, (image, label) in enumerate(zip(images, labels)):
        count = seen[label] = seen.get(label, 0) + 1
        split = "train" if count <= PER_CLASS_TRAIN else "test"
        folder = root / split / names[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:05d}.png")


def run_on(tmp_path, dataset, *extra):
    run_dir = tmp_path / "run"
    status = main(["run", "quick", f"data.dataset={dataset}", *FAST, *extra, "--run-dir", str(run_dir)])
    assert status == 0
    return json.loads((run_dir / "report.json").read_text())


def assert_learned(report, train_size):
    assert report["config"]["data"]["dataset"]
    for stage in ("teacher", "baseline", "distilled"):
        assert report["models"][stage]["accuracy"] > 0.4, {s: report["models"][s]["accuracy"] for s in report["models"]}
    assert f"{train_size} train" in report["notes"][0]


@pytest.mark.slow
def test_an_image_folder_of_real_pngs(tmp_path, fashion_subset):
    write_png_folders(tmp_path / "pngs", *fashion_subset)
    report = run_on(tmp_path, tmp_path / "pngs")
    assert_learned(report, 10 * PER_CLASS_TRAIN - 60)
    assert report["models"]["distilled"]["params"] == 784 * 16 + 16 + 16 * 10 + 10


@pytest.mark.slow
def test_an_npz_of_arrays(tmp_path, fashion_subset):
    images, labels, names = fashion_subset
    train = np.arange(len(labels)) % 4 != 0
    np.savez(tmp_path / "arrays.npz", x_train=images[train], y_train=labels[train], x_test=images[~train],
             y_test=labels[~train])
    report = run_on(tmp_path, tmp_path / "arrays.npz")
    assert_learned(report, int(train.sum()) - 60)


@pytest.mark.slow
def test_a_csv_table(tmp_path, fashion_subset):
    import pandas as pd

    images, labels, _ = fashion_subset
    # features: 2x2 block means of each image (196 numeric columns) and the class as a column
    blocks = images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(images), -1) / 255.0
    frame = pd.DataFrame(blocks, columns=[f"b{i}" for i in range(196)]).assign(label=labels)
    frame.to_csv(tmp_path / "table.csv", index=False)
    report = run_on(tmp_path, tmp_path / "table.csv", "data.options={target: label, test_fraction: 0.25}")
    assert report["models"]["distilled"]["params"] == 196 * 16 + 16 + 16 * 10 + 10
    assert_learned(report, len(labels) - len(labels) // 4 - 60)
    # the student labels new rows of the same table: the trained feature columns, the label column ignored
    shuffled = frame.sample(frac=1.0, random_state=0)
    shuffled.drop(columns=["label"]).iloc[:, ::-1].to_csv(tmp_path / "new.csv", index=False)  # columns reordered
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")["prediction"].to_numpy()
    assert len(predicted) == len(frame) and (predicted == shuffled["label"].to_numpy()).mean() > 0.4


@pytest.mark.slow
def test_a_saved_hf_datasets_folder(tmp_path, fashion_subset):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    images, labels, names = fashion_subset
    datasets.disable_progress_bars()
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})

    def table(index):
        return datasets.Dataset.from_dict({"image": [Image.fromarray(images[i]) for i in index],
                                           "label": labels[index].tolist()}, features=features)

    order = np.arange(len(labels))
    datasets.DatasetDict({"train": table(order[order % 4 != 0]), "test": table(order[order % 4 == 0])}) \
        .save_to_disk(str(tmp_path / "hf"))
    report = run_on(tmp_path, tmp_path / "hf", "data.options={color: grayscale}")
    assert_learned(report, int((order % 4 != 0).sum()) - 60)


def test_unknown_data_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="neither a dataset .* nor an existing file or folder"):
        check_recipe(load_recipe("quick", ["data.dataset=no/such/place"]))
    with pytest.raises(ConfigError, match="data.options"):
        check_recipe(load_recipe("quick", ["data.dataset=image-folder", "data.options={rooot: x}"]))


def test_a_streamed_source_refuses_the_teacher_cache_before_training(tmp_path, fashion_subset, capsys):
    images, labels, _ = fashion_subset
    np.savez(tmp_path / "a.npz", x_train=images, y_train=labels, x_test=images[:20], y_test=labels[:20])
    status = main(["run", "quick", f"data.dataset={tmp_path / 'a.npz'}", *FAST, "distill.cache.enabled=true",
                   "--run-dir", str(tmp_path / "run")])
    assert status == 2 and "streamed from disk" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_streamed_source_refuses_a_training_warp_before_anything_is_written(tmp_path, fashion_subset, capsys):
    images, labels, _ = fashion_subset
    np.savez(tmp_path / "a.npz", x_train=images, y_train=labels, x_test=images[:20], y_test=labels[:20])
    status = main(["run", "quick", f"data.dataset={tmp_path / 'a.npz'}", *FAST, "teacher.warp={rotation: 5}",
                   "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2 and "teacher.warp works on in-memory image datasets" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
