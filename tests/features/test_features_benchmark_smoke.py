"""The benchmark's cell runner, for every column of its table, for a couple of steps on tiny random data."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from kdistill.models import build_model

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "feature_methods.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("feature_methods_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_table_column_runs_a_few_steps_from_the_cached_teacher(bench, tmp_path):
    torch.manual_seed(0)
    images, labels = torch.rand(16, 1, 12, 12), torch.arange(16) % 10
    data = bench.Data(images, labels, images, labels, torch.rand(8, 1, 12, 12), torch.arange(8) % 10, 10)
    settings = bench.Settings(epochs=1, batch_size=8, nce_k=8)
    teacher = build_model("wrn_16_2", (1, 12, 12), 10)
    results = {"cells": {}, "settings": vars(settings)}
    served = bench.cached_teacher("wrn_40_2-wrn_16_2", teacher, data, settings, tmp_path, results, tmp_path / "fm")
    assert results["cells"]["fashion-mnist/wrn_40_2-wrn_16_2/cache"]["layers"] == ["layer1", "layer2", "layer3"]
    calls = []
    teacher.register_forward_hook(lambda *args: calls.append(1))
    for column, (method, _) in bench.METHODS.items():
        student = build_model("resnet20", (1, 12, 12), 10)
        args = bench.method_args_for(column, settings, steps=2)
        accuracy, seconds, extra, last = bench.fit(student, method, args, None if method == "supervised" else served,
                                                   data, settings, 1, seed=0)
        assert 0 <= accuracy <= 1 and seconds > 0 and extra >= 0 and "train_loss" in last, column
    assert not calls  # every method was served from the cache


def test_markdown_puts_published_figures_beside_ours(bench):
    cells = {f"fashion-mnist/resnet56-resnet20/{column}/seed{seed}": {"accuracy": 0.8 + 0.01 * i + 0.001 * seed,
                                                                      "epoch_seconds": 1.0 + i, "extra_parameters": 0}
             for i, column in enumerate(["teacher", *bench.METHODS]) for seed in (0, 1)}
    ratio = {"median": 2.5, "q1": 2.4, "q3": 2.6, "min": 2.3, "max": 2.7, "repeats": 5, "below_one": False}
    cells["fashion-mnist/resnet56-resnet20/timing"] = {
        "steps": 10, "repeats": 5, "warmup": 1, "teacher_weights": "trained",
        "ratios": {"dkd": {"live": ratio, "cached": {**ratio, "median": 0.68, "q1": 0.6, "below_one": True}}}}
    results = {"cells": cells, "settings": vars(bench.Settings())}
    text = bench.render(results)
    assert ("| dkd | 88.05 ± 0.07 | 71.97 | 2.50 [2.40-2.60] | 0.68 [0.60-2.60] ⚠ below 1: measurement error | 0 |"
            in text) and "Spearman" in text
    assert "| kd | 82.05 ± 0.07 | 70.66 | - | - | 0 |" in text  # not timed
    cells["fashion-mnist/vgg13-vgg8/kd/seed0"] = {"accuracy": 0.9, "epoch_seconds": 1.0, "extra_parameters": 0}
    text = bench.render(results)
    assert "| kd | 90.00 (n=1) | 72.98 | 0 |" in text and text.count("No time columns") == 1  # the untimed pair says why
    del cells["fashion-mnist/resnet56-resnet20/timing"]
    assert "| kd | 82.05 ± 0.07 | 70.66 | 0 |" in bench.render(results)  # no timing: no time columns
