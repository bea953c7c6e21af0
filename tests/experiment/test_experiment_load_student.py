"""The trained student back out of a run directory: rebuilt from RUN_DIR/model.json, weights loaded, eval mode."""

import pytest
import torch

import kdistill
from kdistill.config import load_recipe
from kdistill.data import ArrayLoader, load_dataset
from kdistill.errors import CheckpointError, ConfigError
from kdistill.evaluation import classification_metrics, predict_logits
from kdistill.experiment import run_experiment

FAST = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=1", "student.train.epochs=1",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0", "report.latency_repeats=1", "report.latency_batch_sizes=[1]", "report.plots=false",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("load") / "run"
    report = run_experiment(load_recipe("quick", FAST), run_dir)
    return run_dir, report


def test_load_student_reproduces_the_reported_accuracy(finished_run):
    run_dir, report = finished_run
    digits = load_dataset("digits")
    test = ArrayLoader(digits.test_images, digits.test_labels, 1000, shuffle=False)
    for stage in ("distilled", "baseline", "teacher"):
        model = kdistill.load_student(run_dir, stage)
        assert not model.training and model.class_names == [str(d) for d in range(10)]
        accuracy = classification_metrics(*predict_logits(model, test))["accuracy"]
        assert accuracy == pytest.approx(report["models"][stage]["accuracy"])
    default = kdistill.load_student(run_dir)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(),
                                                 kdistill.load_student(run_dir, "distilled").state_dict().values()))


def test_load_student_errors_name_the_fix(finished_run, tmp_path):
    run_dir, _ = finished_run
    with pytest.raises(CheckpointError, match="no finished finetuned stage"):
        kdistill.load_student(run_dir, "finetuned")
    with pytest.raises(ConfigError, match="unknown stage"):
        kdistill.load_student(run_dir, "best")
    with pytest.raises(ConfigError, match="not a kdistill run directory"):
        kdistill.load_student(tmp_path)


def test_predict_labels_npz_images_and_writes_the_csv(finished_run, tmp_path, capsys):
    import csv

    import numpy as np
    from PIL import Image

    from kdistill.cli import main

    run_dir, report = finished_run
    digits = load_dataset("digits")
    model = kdistill.load_student(run_dir)
    expected = model(digits.test_images[:20]).argmax(-1).tolist()
    # an .npz of the inputs as they were stored (float [0, 1] images, no labels)
    np.savez(tmp_path / "new.npz", x=digits.test_images[:20].squeeze(1).numpy())
    assert main(["predict", str(run_dir), str(tmp_path / "new.npz"), "--out", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [int(row["prediction"]) for row in rows] == expected
    assert rows[0]["class"] == str(expected[0]) and len(rows[0]) == 4 + 10
    # the same inputs as 8-bit PNG files in a flat folder: decoded to the model's 1x8x8 grayscale in [0, 1]
    folder = tmp_path / "pngs"
    folder.mkdir()
    pixels = digits.test_images[:20].squeeze(1).mul(255).round().byte().numpy()
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    assert main(["predict", str(run_dir), str(folder), "--out", str(tmp_path / "q.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "q.csv")))
    assert [int(row["prediction"]) for row in rows] == expected
    assert rows[3]["input"].endswith("03.png")


def test_predict_refuses_inputs_of_another_shape(finished_run, tmp_path, capsys):
    import numpy as np

    from kdistill.cli import main

    run_dir, _ = finished_run
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 5, 5), dtype=np.float32))
    assert main(["predict", str(run_dir), str(tmp_path / "wrong.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "shape (1, 5, 5)" in err and "(1, 8, 8)" in err and "\n" not in err
