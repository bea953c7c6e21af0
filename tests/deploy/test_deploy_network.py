"""A run's student to ONNX: equal to PyTorch in fp32, close in int8, dynamic batch, nothing but the student inside."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import kdistill
from kdistill.deploy.network import check_graph_parameters, export_module, graph_parameters
from kdistill.deploy.runtime import session
from kdistill.errors import CheckpointError, ConfigError

INT8_MAX_ACCURACY_DROP = 0.02  # the stated bound: int8 may lose at most 2 points of test accuracy on these runs


def test_fp32_export_equals_pytorch_and_int8_stays_within_the_stated_drop(mlp_run, tmp_path):
    run_dir, _ = mlp_run
    report = kdistill.export(run_dir, tmp_path / "out", int8=True, repeats=3)
    check = report["check"]
    assert check["rows"] == 360  # the whole digits test set
    assert check["onnx_fp32"]["max_abs_diff"] < 1e-4 and check["onnx_fp32"]["label_agreement"] == 1.0
    assert check["accuracy"]["onnx_fp32"] == check["accuracy"]["pytorch_student"]
    assert report["int8_mode"] == "dynamic"  # an MLP: matrix products only
    assert check["accuracy"]["pytorch_student"] - check["accuracy"]["onnx_int8"] <= INT8_MAX_ACCURACY_DROP
    assert check["onnx_int8"]["label_agreement"] >= 0.97
    assert report["files"]["onnx_int8"]["size_bytes"] < report["files"]["onnx_fp32"]["size_bytes"] / 2
    latency = report["latency_ms"]
    assert set(latency) == {"1", "256"}
    assert set(latency["1"]) == {"onnx_fp32", "onnx_int8", "pytorch_student", "pytorch_teacher"}
    assert all(row["q1_ms"] <= row["median_ms"] <= row["q3_ms"] for row in latency["256"].values())
    written = json.loads((tmp_path / "out" / "export.json").read_text())
    assert written["versions"]["onnxruntime"] and written["machine"]["threads"] == 1
    assert "| ONNX int8 |" in (tmp_path / "out" / "export.md").read_text()


def test_exported_file_has_a_dynamic_batch_and_the_class_names(mlp_run, tmp_path, digits):
    run_dir, _ = mlp_run
    kdistill.export(run_dir, tmp_path, latency=False)
    runner = session(tmp_path / "student.onnx")
    student = kdistill.load_student(run_dir)
    for size in (1, 37):
        inputs = digits.test_images[:size]
        (logits,) = runner.run(["logits"], {"inputs": inputs.numpy()})
        assert logits.shape == (size, 10)
        np.testing.assert_allclose(logits, student(inputs).detach().numpy(), atol=1e-4)
    metadata = runner.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["class_names"]) == [str(d) for d in range(10)]
    assert json.loads(metadata["input_shape"]) == [1, 8, 8]


def test_cnn_export_is_static_int8_and_holds_no_connector(cnn_run, tmp_path):
    run_dir, run_report = cnn_run
    assert run_report["models"]["distilled"]["extra_training_parameters"] > 0  # FitNets trained a connector
    report = kdistill.export(run_dir, tmp_path, int8=True, latency=False)
    assert report["int8_mode"] == "static"  # convolutions: calibrated QDQ, not slow ConvInteger
    check = report["check"]
    assert check["onnx_fp32"]["max_abs_diff"] < 1e-4 and check["onnx_fp32"]["label_agreement"] == 1.0
    assert check["accuracy"]["pytorch_student"] - check["accuracy"]["onnx_int8"] <= INT8_MAX_ACCURACY_DROP
    graph = report["graph"]
    student = kdistill.load_student(run_dir)
    assert graph["foreign"] == []
    assert graph["graph_elements"] <= graph["student_elements"] == sum(t.numel() for t in student.state_dict().values())
    import onnx

    names = [tensor.name for tensor in onnx.load(str(tmp_path / "student.onnx")).graph.initializer]
    assert not [name for name in names if "connector" in name or "teacher" in name]


class WithConnector(nn.Module):
    """A student whose forward also runs a training-only connector: what the graph check must catch."""

    def __init__(self, student):
        super().__init__()
        self.student, self.connector = student, nn.Linear(10, 10)

    def forward(self, inputs):
        return self.connector(self.student(inputs))


def test_graph_check_refuses_tensors_that_are_not_the_students(tmp_path, digits):
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    path = export_module(WithConnector(student), digits.test_images[:4], tmp_path / "bad.onnx")
    summary = graph_parameters(path, student)
    assert "connector.weight" in summary["foreign"]
    with pytest.raises(CheckpointError, match="not the student's.*connector.weight"):
        check_graph_parameters(summary, path)
    check_graph_parameters(graph_parameters(export_module(student, digits.test_images[:4], tmp_path / "ok.onnx"),
                                            student), tmp_path / "ok.onnx")


def test_any_torch_module_exports_from_python(tmp_path, digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    report = kdistill.export(model, tmp_path / "net.onnx", example_inputs=digits.test_images[:64], int8=True)
    assert report["files"]["onnx_int8"]["mode"] == "static"
    assert report["check"]["onnx_fp32"]["max_abs_diff"] < 1e-4 and "accuracy" not in report["check"]
    assert (tmp_path / "net.int8.onnx").exists()


class TupleOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

    def forward(self, inputs):
        return self.body(inputs), inputs.mean()


def test_a_model_returning_a_tuple_exports_its_logits(tmp_path, digits):
    model = TupleOutput()
    report = kdistill.export(model, tmp_path / "t.onnx", example_inputs=digits.test_images[:8])
    assert report["check"]["onnx_fp32"]["max_abs_diff"] < 1e-5
    (logits,) = session(tmp_path / "t.onnx").run(None, {"inputs": digits.test_images[:2].numpy()})
    assert logits.shape == (2, 3)


def test_export_errors_name_the_fix(tmp_path, mlp_run, monkeypatch):
    with pytest.raises(ConfigError, match="not a kdistill run directory"):
        kdistill.export(tmp_path)
    (tmp_path / "student.skops").write_bytes(b"")
    with pytest.raises(ConfigError, match="tabular student: export it with `kdistill tabular fit ... --onnx`"):
        kdistill.export(tmp_path)
    with pytest.raises(ConfigError, match="a run's export is a folder"):
        kdistill.export(mlp_run[0], tmp_path / "student.onnx")
    with pytest.raises(ConfigError, match="unknown export format 'tflite'"):
        kdistill.export(mlp_run[0], format="tflite")
    with pytest.raises(ConfigError, match="example_inputs"):
        kdistill.export(nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="cannot export a int"):
        kdistill.export(3)
    with pytest.raises(ConfigError, match="unknown int8 mode"):
        kdistill.export(nn.Linear(2, 2), tmp_path / "x.onnx", example_inputs=torch.zeros(2, 2), int8=True,
                        int8_mode="fast")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'kdistill\[export\]'"):
        kdistill.export(nn.Linear(2, 2), tmp_path / "x.onnx", example_inputs=torch.zeros(2, 2))


def test_an_export_that_differs_from_pytorch_is_an_error_with_its_numbers_kept(mlp_run, tmp_path, monkeypatch):
    from kdistill.deploy import run_export

    monkeypatch.setattr(run_export, "FP32_TOLERANCE", -1.0)  # every graph now counts as differing
    with pytest.raises(CheckpointError, match="differs from the PyTorch student"):
        kdistill.export(mlp_run[0], tmp_path, latency=False)
    assert json.loads((tmp_path / "export.json").read_text())["check"]["onnx_fp32"]["label_agreement"] == 1.0
