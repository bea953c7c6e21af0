import math

import pytest
import torch
from torch import nn

from kdistill.errors import ShapeError
from kdistill.evaluation import count_parameters, flops_per_sample, latency_ms, profile_model, weights_size_bytes


def test_flops_per_sample_of_mlp(mlp):
    # Matmul (M, K) @ (K, N) counts 2*M*N*K; per sample M = 1. Biases and ReLU are not counted.
    expected = 2 * (784 * 100 + 100 * 10)
    assert flops_per_sample(mlp, torch.randn(8, 784)) == expected
    assert flops_per_sample(mlp, torch.randn(1, 784)) == expected


def test_flops_with_dict_inputs(dict_model, dict_inputs):
    assert flops_per_sample(dict_model, dict_inputs) == 2 * 8 * 3  # only the head is a matmul


def test_count_parameters(mlp):
    assert count_parameters(mlp) == 784 * 100 + 100 + 100 * 10 + 10


def test_count_parameters_counts_tied_weights_once():
    embed = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = embed.weight
    assert count_parameters(nn.ModuleList([embed, head])) == 40


def test_latency_is_positive_and_finite(mlp, dict_model, dict_inputs):
    for model, example in [(mlp, torch.randn(1, 784)), (dict_model, {k: v[:1] for k, v in dict_inputs.items()})]:
        value = latency_ms(model, example, batch_size=4, repeats=3, warmup=1)
        assert value > 0 and math.isfinite(value)


def test_latency_needs_a_single_example(mlp):
    with pytest.raises(ShapeError, match="batch dimension 1"):
        latency_ms(mlp, torch.randn(2, 784), batch_size=4)


def test_weights_size_is_float32_payload_plus_small_header(mlp):
    size = weights_size_bytes(mlp)
    payload = 4 * count_parameters(mlp)
    assert payload < size < payload + 4096


def test_profile_model_keys_and_restores_mode(mlp):
    mlp.train()
    result = profile_model(mlp, torch.randn(1, 784), batch_sizes=(1, 4), repeats=2)
    assert set(result) == {"params", "flops_per_sample", "latency_ms", "latency_iqr_ms", "latency_threads",
                           "latency_repeats", "latency_warmup", "size_bytes"}
    assert set(result["latency_ms"]) == {"1", "4"}
    assert result["flops_per_sample"] == 2 * (784 * 100 + 100 * 10)
    assert all(module.training for module in mlp.modules())
