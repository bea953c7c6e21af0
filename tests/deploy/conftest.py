"""Two small finished runs on digits to export: an MLP (hinton) and a CNN distilled with FitNets (a connector)."""

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

BASE = ["data.dataset=digits", "data.val_size=200", "teacher.jitter=0", "report.latency_repeats=1",
        "report.latency_batch_sizes=[1]", "report.plots=false", "teacher.train.epochs=15", "student.train.epochs=15"]
MLP = [*BASE, "teacher.model_args.hidden=[64]", "student.model_args.hidden=[32]", "teacher.model_args.max_norm=null"]
# FitNets trains a connector (student features -> teacher features) beside the student: it must not be exported
CNN = [*BASE, "teacher.model=cnn", "teacher.model_args={channels: [8, 16], hidden: 32}", "student.model=cnn",
       "student.model_args={channels: [4, 8], hidden: 16}", "distill.method=fitnets",
       "distill.method_args={layers: [[features, features]], feature_weight: 1.0}"]


def finished_run(folder, overrides):
    from kdistill.config import load_recipe
    from kdistill.experiment import run_experiment

    report = run_experiment(load_recipe("quick", overrides), folder)
    return folder, report


@pytest.fixture(scope="session")
def mlp_run(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("deploy") / "mlp-run", MLP)


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory):
    return finished_run(tmp_path_factory.mktemp("deploy") / "cnn-run", CNN)
