"""bf16 autocast (also on CPU) as a training option; losses stay float32."""

import pytest
import torch

from kdistill.data import ArrayLoader, load_dataset
from kdistill.errors import ConfigError
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, train


def test_bf16_step_computes_the_loss_in_float32():
    torch.manual_seed(0)
    teacher, student = build_model("mlp", (1, 8, 8), 10, hidden=[16]), build_model("mlp", (1, 8, 8), 10, hidden=[8])
    strategy = build_strategy("hinton", teacher=FrozenTeacher(teacher), temperature=4.0)
    batch = {"inputs": torch.rand(4, 1, 8, 8), "labels": torch.randint(0, 10, (4,))}
    with torch.autocast("cpu", torch.bfloat16):
        step = strategy(batch, student)
    assert step["output"].dtype == torch.bfloat16  # the matmuls ran in bf16 ...
    assert step["loss"].dtype == torch.float32  # ... the loss did not


def test_bf16_training_runs_and_learns():
    torch.set_num_threads(1)
    data = load_dataset("digits")
    torch.manual_seed(0)
    student = build_model("mlp", (1, 8, 8), 10, hidden=[32])
    config = TrainConfig(epochs=2, batch_size=64, lr=0.05, precision="bf16")
    result = train(student, build_strategy("supervised"), ArrayLoader(data.train_images, data.train_labels, 64),
                   ArrayLoader(data.test_images, data.test_labels, 500, shuffle=False), config)
    assert result.history[-1]["val_accuracy"] > 0.5
    assert next(student.parameters()).dtype == torch.float32  # weights stay fp32 (autocast, not .bfloat16())


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp8")
