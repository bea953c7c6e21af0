import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from lm_steps import interleaved_steps  # noqa: E402

from kdistill.training import TrainConfig  # noqa: E402


def test_each_variant_steps_its_own_student_once_per_round_after_one_warm_up():
    calls = {"a": 0, "b": 0}

    def variant(name):
        def loss(batch, student):
            calls[name] += 1
            return {"loss": student(batch["inputs"]).square().mean()}
        return loss

    torch.manual_seed(0)
    students = {"a": torch.nn.Linear(3, 2), "b": torch.nn.Linear(3, 2)}
    before = {name: model.weight.detach().clone() for name, model in students.items()}
    batch = {"inputs": torch.randn(4, 3)}
    seconds = interleaved_steps({"a": variant("a"), "b": variant("b")}, batch, students,
                                TrainConfig(epochs=1, optimizer="sgd", lr=0.1), repeats=3)
    assert {name: len(values) for name, values in seconds.items()} == {"a": 3, "b": 3}
    assert calls == {"a": 4, "b": 4}  # one warm-up + three timed steps each
    assert all(not torch.equal(before[name], model.weight) for name, model in students.items())
