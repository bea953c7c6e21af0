"""benchmarks/ensemble.py: a pilot never reads the test set; a cell records what produced it; the report renders."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
TINY_SPEC = """description: tiny diverse ensemble
procedure: ensemble
data: {dataset: digits, val_size: 200}
args:
  model: {model: mlp, model_args: {hidden: [16]}}
  member_models:
    - {model: mlp, model_args: {hidden: [16]}}
    - {model: mlp, model_args: {hidden: [8]}}
    - {model: mlp, model_args: {hidden: [16]}}
    - {model: mlp, model_args: {hidden: [24]}}
    - {model: mlp, model_args: {hidden: [8, 8]}}
  jitter: 1
  train: {epochs: 1, batch_size: 64, optimizer: adam, lr: 0.01}
  student_alone: true
"""


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("ensemble_benchmark", BENCHMARKS / "ensemble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("pilot", [True, False])
def test_a_cell_evaluates_on_validation_in_a_pilot_and_on_test_otherwise(bench, tmp_path, monkeypatch, pilot):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    monkeypatch.setitem(bench.SETTINGS, "tiny", str(spec))
    seen = []
    real_run = bench.run_procedure

    def recording_run(name, splits, **arguments):
        seen.append(splits)
        return real_run(name, splits, **arguments)

    monkeypatch.setattr(bench, "run_procedure", recording_run)
    cell = bench.run_cell("tiny", 0, [], pilot=pilot)
    splits = seen[0]
    assert (splits.test_images is splits.val_images) == pilot  # a pilot hands the procedure no test image
    assert cell["evaluated_on"] == ("validation" if pilot else "test")
    assert cell["environment"]["torch_threads"] >= 1 and cell["environment"]["numpy"] and cell["seed"] == 0
    assert len(cell["member_accuracy"]) == 5 and "student_alone_accuracy" in cell
    results = {"pilot": pilot, "cells": {"tiny/seed0": cell, "tiny/seed1": {**cell, "seed": 1}}}
    text = bench.render(results)
    assert "| mean ± std |" in text and "| 0 |" in text and "| 1 |" in text
    assert not math.isnan(cell["single_mean_accuracy"])
