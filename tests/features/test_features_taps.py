import pytest
import torch
from torch import nn

from kdistill.errors import ConfigError
from kdistill.features import FeatureTaps, unwrap_model
from kdistill.models import build_model

INPUT_SHAPE = (1, 12, 12)  # the reference nets accept any H, W; small images keep the tests fast


def hook_count(model: nn.Module) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


def test_taps_capture_by_name_clear_after_read_and_remove_hooks(batch):
    model = build_model("resnet20", INPUT_SHAPE, 10)
    with FeatureTaps(model, ["layer1", "layer3"]) as taps:
        assert hook_count(model) == 2
        logits = model(batch["inputs"])
        features = taps.read()
        assert list(features) == ["layer1", "layer3"]
        assert features["layer3"].shape == (8, 64, 3, 3)
        assert taps.pending() == 0  # cleared after the read
        with pytest.raises(RuntimeError, match="did not run"):
            taps.read()
    assert logits.shape == (8, 10)
    assert hook_count(model) == 0 and not taps.active


def test_taps_remove_hooks_when_the_block_raises(batch):
    model = build_model("resnet20", INPUT_SHAPE, 10)
    with pytest.raises(ValueError):
        with FeatureTaps(model, ["layer2"]):
            raise ValueError("boom")
    assert hook_count(model) == 0


def test_taps_see_through_a_data_parallel_wrapper_with_or_without_prefix(batch):
    model = build_model("resnet20", INPUT_SHAPE, 10)
    wrapped = nn.DataParallel(model)  # on CPU it just calls the module: the same unwrapping path as DDP
    assert unwrap_model(wrapped) is model
    with FeatureTaps(wrapped, ["module.layer2", "layer3"]) as taps:
        wrapped(batch["inputs"])
        features = taps.read()
    assert set(features) == {"layer2", "layer3"}
    assert features["layer2"].requires_grad  # the graph is kept for the student's loss


def test_unknown_layer_names_fail_with_the_candidates():
    model = build_model("resnet20", INPUT_SHAPE, 10)
    with pytest.raises(ConfigError, match="layer1"):
        FeatureTaps(model, ["layer9"])


def test_a_layer_matched_twice_is_captured_once(batch):
    model = build_model("resnet20", INPUT_SHAPE, 10)
    with FeatureTaps(model, ["layer2", "layer2"]) as taps:
        assert hook_count(model) == 1
        model(batch["inputs"])
        assert torch.equal(taps.read()["layer2"], taps_output_again(model, batch))


def taps_output_again(model, batch):
    with FeatureTaps(model, ["layer2"]) as taps:
        model(batch["inputs"])
        return taps.read()["layer2"]
