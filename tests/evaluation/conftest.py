import pytest
import torch
from torch import nn


class DictInputClassifier(nn.Module):
    """Takes keyword tensors like a text model: mean-pooled embeddings -> linear head."""

    def __init__(self, vocab_size=20, dim=8, num_classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()  # (B, T, 1)
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, D)
        return self.head(pooled)  # (B, C)


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))


@pytest.fixture
def dict_model():
    torch.manual_seed(0)
    return DictInputClassifier()


@pytest.fixture
def dict_inputs():
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(0, 20, (4, 6), generator=generator),
        "attention_mask": torch.ones(4, 6, dtype=torch.long),
    }


REPORT_RUN = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=2", "student.train.epochs=2",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0", "report.latency_repeats=2", "report.latency_batch_sizes=[1,8]", "report.plots=true",
]


@pytest.fixture(scope="session")
def report_run(tmp_path_factory):
    """A finished tiny digits run with plots and report.html: (run folder, report)."""
    pytest.importorskip("matplotlib")
    from kdistill.config import load_recipe
    from kdistill.experiment import run_experiment

    run_dir = tmp_path_factory.mktemp("report") / "run"
    report = run_experiment(load_recipe("quick", REPORT_RUN), run_dir)
    return run_dir, report
