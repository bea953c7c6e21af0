import sys

import pytest
import torch

from kdistill.errors import KdistillError
from kdistill.evaluation import plot_confusion, plot_reliability, plot_training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the temporary file was moved, not left behind


def history(scale):
    return [
        {"epoch": e, "train_loss": scale / e, "train_accuracy": 1 - 0.1 / e, "val_loss": 1.2 * scale / e,
         "val_accuracy": 1 - 0.15 / e}
        for e in range(1, 6)
    ]


def test_training_curves_png(tmp_path):
    pytest.importorskip("matplotlib")
    histories = {"teacher": history(1.0), "student": history(2.0)}
    histories["no-val"] = [{"epoch": 1, "train_loss": 3.0, "val_loss": None}]
    path = plot_training_curves(histories, tmp_path / "curves.png")
    assert_png(path)


def test_reliability_png(tmp_path):
    pytest.importorskip("matplotlib")
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (200,), generator=generator)
    sharp = (torch.randn(200, 4, generator=generator) * 4).softmax(1)
    soft = torch.randn(200, 4, generator=generator).softmax(1)
    path = plot_reliability({"teacher": (sharp, labels), "student": (soft, labels)}, tmp_path / "reliability.png")
    assert_png(path)


def test_confusion_png(tmp_path):
    pytest.importorskip("matplotlib")
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (300,), generator=generator)
    noise = torch.randint(0, 5, (300,), generator=generator)
    teacher_pred = torch.where(torch.rand(300, generator=generator) < 0.9, labels, noise)
    student_pred = torch.where(torch.rand(300, generator=generator) < 0.7, labels, noise)
    names = ["zero", "one", "two", "three", "four"]
    path = plot_confusion(teacher_pred, student_pred, labels, 5, tmp_path / "confusion.png", class_names=names)
    assert_png(path)
    with pytest.raises(KdistillError, match="class_names"):
        plot_confusion(teacher_pred, student_pred, labels, 5, tmp_path / "x.png", class_names=names[:3])


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes `import matplotlib.figure` fail
    with pytest.raises(KdistillError, match=r"pip install 'kdistill\[plots\]'"):
        plot_training_curves({"a": history(1.0)}, tmp_path / "curves.png")
