"""`kdistill run` on text: a saved datasets folder of token ids, tiny random BERTs, the tinybert method - the dry run,
probes, report (params, FLOPs, latency on dict inputs) and the save_pretrained export, with nothing downloaded."""

import json

import pytest
import torch
import transformers
from text_helpers import token_data

from kdistill.batch import forward_model
from kdistill.cli import main
from kdistill.config import load_recipe
from kdistill.experiment.check import check_recipe
from kdistill.experiment.student import load_student
from kdistill.sources.text import TextSource
from kdistill.text.padding import trim_padding

datasets = pytest.importorskip("datasets")

TINY = "{vocab_size: 40, hidden: 32, layers: 2, heads: 4, dropout: 0.0}"
FAST = [
    "teacher.model=bert-classifier", f"teacher.model_args={TINY}", "student.model=bert-classifier",
    "student.model_args={vocab_size: 40, hidden: 16, layers: 1, heads: 4}", "teacher.train.epochs=1",
    "student.train.epochs=1", "teacher.train.batch_size=16", "student.train.batch_size=16", "data.eval_batch_size=32",
    "report.latency_repeats=1", "report.latency_batch_sizes=[1, 4]", "report.plots=false",
    "data.options={inputs: [input_ids, attention_mask], label: label}",
]


def token_folder(root):
    def table(data):
        return datasets.Dataset.from_dict({"input_ids": data.tokens["input_ids"].tolist(),
                                           "attention_mask": data.tokens["attention_mask"].tolist(),
                                           "label": data.labels.tolist()})

    datasets.disable_progress_bars()
    datasets.DatasetDict({"train": table(token_data(32, 0)), "validation": table(token_data(16, 1)),
                          "test": table(token_data(16, 2))}).save_to_disk(str(root))
    return root


@pytest.mark.slow
def test_kdistill_run_distils_a_tiny_bert_end_to_end(tmp_path):
    folder = token_folder(tmp_path / "tokens")
    run_dir = tmp_path / "run"
    assert main(["run", "tinybert-sentiment", f"data.dataset={folder}", *FAST, "--run-dir", str(run_dir)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["models"]) == {"teacher", "baseline", "distilled"}
    for row in report["models"].values():
        assert row["flops_per_sample"] > 0 and set(row["latency_ms"]) == {"1", "4"}
    history = [json.loads(line) for line in (run_dir / "distilled" / "metrics.jsonl").read_text().splitlines()]
    assert history[0]["train_hidden"] > 0 and history[0]["train_attention"] > 0
    exported = transformers.AutoModelForSequenceClassification.from_pretrained(run_dir / "distilled" / "pretrained")
    student = load_student(run_dir)
    batch = {"inputs": {k: torch.tensor(v) for k, v in
                        {"input_ids": [[1, 5, 9, 2, 0]], "attention_mask": [[1, 1, 1, 1, 0]]}.items()}}
    with torch.no_grad():
        torch.testing.assert_close(forward_model(exported.eval(), batch), forward_model(student, batch))
    assert main(["profile", str(run_dir), "--repeats", "1"]) == 0  # rebuilt from model.json's {input: shape}


def test_the_shipped_text_recipe_passes_the_whole_check():
    recipe = check_recipe(load_recipe("tinybert-sentiment"))
    assert recipe.distill.method == "tinybert" and recipe.student.model_args == {"num_layers": 4}
    assert recipe.data.dataset == "text" and TextSource.Options(**recipe.data.options).max_length == 64


def test_a_batch_is_trimmed_to_its_longest_sentence():
    inputs = {"input_ids": torch.tensor([[1, 4, 2, 0, 0], [1, 2, 0, 0, 0]]),
              "attention_mask": torch.tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])}
    trimmed = trim_padding(inputs)
    assert trimmed["input_ids"].tolist() == [[1, 4, 2], [1, 2, 0]]
    assert trimmed["attention_mask"].shape == (2, 3)
    images = torch.zeros(2, 3)
    assert trim_padding(images) is images
