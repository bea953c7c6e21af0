"""Latency through torch.utils.benchmark: median and spread, the thread count set and recorded, and one code path -
the run's report and `kdistill profile RUN_DIR` measure with the same threads, batch sizes and repeats."""

import pytest
import torch
from torch import nn

from kdistill.cli import main
from kdistill.config import load_recipe
from kdistill.evaluation import profile as profile_module
from kdistill.evaluation.profile import measure_latency, profile_model
from kdistill.experiment import run_experiment

FAST = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=1", "student.train.epochs=1",
    "teacher.model_args.hidden=[16]", "student.model_args.hidden=[8]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0", "report.plots=false",
]


class ThreadSpy(nn.Module):
    """A linear layer that records the torch thread count its forward pass runs with."""

    def __init__(self):
        super().__init__()
        self.linear, self.threads = nn.Linear(4, 2), set()

    def forward(self, inputs):
        self.threads.add(torch.get_num_threads())
        return self.linear(inputs)


def test_median_and_interquartile_range_with_the_threads_set_and_restored():
    spy = ThreadSpy()
    before = torch.get_num_threads()
    timing = measure_latency(spy, torch.randn(1, 4), batch_size=3, repeats=5, warmup=2, threads=2)
    assert spy.threads == {2} and torch.get_num_threads() == before
    assert timing["q1_ms"] <= timing["median_ms"] <= timing["q3_ms"]
    assert timing["iqr_ms"] == pytest.approx(timing["q3_ms"] - timing["q1_ms"]) and timing["iqr_ms"] >= 0
    assert (timing["threads"], timing["repeats"], timing["warmup"]) == (2, 5, 2) and timing["passes_per_repeat"] >= 1


def test_profile_rows_record_how_latency_was_measured():
    row = profile_model(nn.Linear(4, 2), torch.randn(1, 4), (1, 8), repeats=3, threads=1)
    assert set(row["latency_ms"]) == set(row["latency_iqr_ms"]) == {"1", "8"}
    assert (row["latency_threads"], row["latency_repeats"], row["latency_warmup"]) == (1, 3, 5)


def test_report_and_profile_measure_alike(tmp_path, monkeypatch, capsys):
    calls = []
    real = profile_module.measure_latency

    def recording(model, example, batch_size, repeats=30, warmup=5, on_pass=None, threads=None):
        calls.append((batch_size, repeats, warmup, threads))
        return real(model, example, batch_size, repeats, warmup, on_pass, threads)

    monkeypatch.setattr(profile_module, "measure_latency", recording)
    recipe = load_recipe("quick", [*FAST, "threads=2", "report.latency_batch_sizes=[1,8]", "report.latency_repeats=3"])
    report = run_experiment(recipe, tmp_path / "run")
    in_report = sorted(calls)
    assert set(in_report) == {(1, 3, 5, 2), (8, 3, 5, 2)}
    assert report["models"]["teacher"]["latency_threads"] == 2
    calls.clear()
    torch.set_num_threads(1)  # the profiling process has its own setting; the run's is what counts
    assert main(["profile", str(tmp_path / "run")]) == 0
    assert sorted(calls) == in_report
    out = capsys.readouterr().out
    assert "lat b8 ms (IQR)" in out and "2 thread(s)" in out
