"""The report's rows measure the weights their stage exported: fine-tuning must not change the "distilled" row."""

import json

import pytest
import torch

from kdistill.config import load_recipe
from kdistill.data import ArrayLoader, load_dataset
from kdistill.evaluation import classification_metrics, predict_logits
from kdistill.experiment import run_experiment
from kdistill.models import build_model
from kdistill.training import load_weights

FAST = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=2", "student.train.epochs=1",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0", "report.latency_repeats=1", "report.latency_batch_sizes=[1]", "report.plots=false",
    # a strong fine-tune (large lr, several epochs) moves the weights far from the distilled ones
    "finetune.epochs=3", "finetune.lr=0.1",
]


def test_finetuned_and_distilled_rows_measure_their_own_weights(tmp_path):
    torch.set_num_threads(2)  # the machine's default must not leak into the run: the recipe pins threads (1)
    report = run_experiment(load_recipe("quick", FAST), tmp_path / "run")
    digits = load_dataset("digits")
    test = ArrayLoader(digits.test_images, digits.test_labels, 1000, shuffle=False)
    for stage in ("distilled", "finetuned"):
        model = build_model("mlp", digits.input_shape, 10, hidden=[16])
        model.load_state_dict(load_weights(tmp_path / "run" / stage / "student.safetensors"))
        accuracy = classification_metrics(*predict_logits(model, test))["accuracy"]
        assert report["models"][stage]["accuracy"] == pytest.approx(accuracy), stage
    assert report["models"]["distilled"]["accuracy"] != report["models"]["finetuned"]["accuracy"]
    stored = json.loads((tmp_path / "run" / "report.json").read_text())
    assert stored["environment"]["threads"] == 1 == torch.get_num_threads()
    assert stored["config"]["threads"] == 1
