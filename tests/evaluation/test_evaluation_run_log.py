"""The evaluation phase of `kdistill run` says what it is doing: a line up front and one per model."""

import logging

import torch

from kdistill.config import load_recipe
from kdistill.experiment.evaluate import build_report
from kdistill.experiment.splits import prepare_data
from kdistill.models import build_model


def test_build_report_logs_one_line_per_model(tmp_path, caplog):
    recipe = load_recipe("quick", ["data.dataset=digits", "data.val_size=200", "report.plots=false",
                                   "report.latency_repeats=1", "report.latency_batch_sizes=[1]"])
    data = prepare_data(recipe.data, recipe.seed)
    torch.manual_seed(0)
    models = {name: build_model("mlp", data.input_shape, data.num_classes, hidden=[8])
              for name in ("teacher", "baseline", "distilled")}
    caplog.set_level(logging.INFO, logger="kdistill")
    build_report(recipe, data, models, dict.fromkeys(models), tmp_path)
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("evaluation:")]
    assert lines[0].startswith("evaluation: teacher, baseline, distilled on 360 test samples")
    assert [line.split()[1] for line in lines[1:]] == ["teacher", "baseline", "distilled"]
    assert all("test accuracy" in line and "ms at batch 1" in line for line in lines[1:])
