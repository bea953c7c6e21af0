"""Every registered model builds for the shipped input shapes; MLP max-norm caps each unit's incoming weights."""

import pytest
import torch
from torch import nn

from kdistill.errors import ConfigError
from kdistill.models import MLP, MODELS, build_model

SMALL_ARGS = {"mlp": {"hidden": [16, 8]}, "cnn": {"channels": [4, 8], "hidden": 8}}
# models taking image tensors; text models (token ids) are covered by tests/text/test_text_models.py
IMAGE_MODELS = [name for name in MODELS.names() if getattr(MODELS.get(name), "inputs", "tensor") != "text"]


@pytest.mark.parametrize("input_shape", [(1, 28, 28), (1, 8, 8)])
@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_every_model_builds_and_outputs_batch_by_classes(name, input_shape):
    torch.manual_seed(0)
    model = build_model(name, input_shape, 10)
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(3, *input_shape))
    assert logits.shape == (3, 10)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(SMALL_ARGS))
def test_small_configurations_build(name):
    model = build_model(name, (1, 8, 8), 10, **SMALL_ARGS[name])
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_every_model_trains_one_step(name):
    torch.manual_seed(0)
    model = build_model(name, (1, 8, 8), 3)
    model.train()
    loss = nn.functional.cross_entropy(model(torch.rand(4, 1, 8, 8)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", MODELS.names())
def test_unknown_model_argument_is_a_config_error_naming_it(name):
    with pytest.raises(ConfigError) as error:
        build_model(name, (1, 8, 8), 10, widht=3)
    assert "widht" in str(error.value) and "valid" in str(error.value)


def test_unknown_model_name_lists_registered_ones():
    with pytest.raises(ConfigError) as error:
        build_model("resnet9000", (1, 8, 8), 10)
    assert all(name in str(error.value) for name in MODELS.names())


def test_mlp_layer_sizes_follow_arguments():
    model = build_model("mlp", (1, 8, 8), 10, hidden=[20, 12])
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 20), (20, 12), (12, 10)]


def test_mlp_max_norm_caps_each_units_incoming_weight_norm():
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=[20], max_norm=1.5)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            layer.weight.mul_(10.0)  # push most rows above the cap
            layer.weight[0].mul_(1e-4)  # ...but keep one row well below it
    before = [layer.weight.detach().clone() for layer in linears]
    model.apply_weight_constraints()
    for layer, old in zip(linears, before):
        old_norms = old.double().norm(dim=1)
        new_norms = layer.weight.double().norm(dim=1)
        assert (old_norms > 1.5).any()
        assert (new_norms <= 1.5 + 1e-5).all()
        big = old_norms > 1.5
        # rows above the cap are rescaled to exactly the cap, keeping their direction
        torch.testing.assert_close(new_norms[big], torch.full_like(new_norms[big], 1.5), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(layer.weight[big].double() / new_norms[big, None],
                                   old[big].double() / old_norms[big, None], rtol=1e-5, atol=1e-6)
        # rows below the cap are untouched
        torch.testing.assert_close(layer.weight[~big], old[~big], rtol=0, atol=0)


def test_mlp_without_max_norm_leaves_weights_alone():
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=[20])
    with torch.no_grad():
        model.layers[2].weight.mul_(100.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.apply_weight_constraints()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_cnn_rejects_flat_inputs():
    with pytest.raises(ValueError, match="input_shape"):
        build_model("cnn", (64,), 10)


def test_cnn_pooled_size_keeps_positions_for_the_head():
    """pooled_size=1 (global average) cannot tell a stroke at the top from one at the bottom; pooled_size=7 on
    28x28 inputs keeps the whole 7x7 map, so the head sees where features are."""
    import torch

    global_pool = build_model("cnn", (1, 28, 28), 10, channels=[4, 8], hidden=8)
    positional = build_model("cnn", (1, 28, 28), 10, channels=[4, 8], hidden=8, pooled_size=7)
    assert positional.head[2].in_features == 8 * 49 and global_pool.head[2].in_features == 8
    top, bottom = torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 28, 28)
    top[..., 4:8, 10:18], bottom[..., 20:24, 10:18] = 1.0, 1.0  # the same bar, moved by 16 px
    for model, differs in ((global_pool, False), (positional, True)):
        model.eval()
        features = model.head[:2](model.features(torch.cat([top, bottom])))  # (2, pooled features)
        assert (not torch.allclose(features[0], features[1], atol=1e-6)) == differs
