import pytest
import torch

from kdistill.features import FeatureTaps, default_feature_layers
from kdistill.models import build_model

REFERENCE_MODELS = ["resnet8x4", "resnet20", "resnet32x4", "resnet56", "wrn_16_2", "wrn_40_2", "vgg8", "vgg13"]


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_model_builds_and_runs_on_28x28_single_channel(name):
    torch.manual_seed(0)
    model = build_model(name, (1, 28, 28), 10).eval()
    with torch.no_grad(), FeatureTaps(model, default_feature_layers(model)) as taps:
        logits = model(torch.randn(2, 1, 28, 28))
        features = list(taps.read().values())
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    sizes = [f.shape[-1] for f in features]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] <= 7  # stages downsample 28 -> 7 (VGG: -> 4)


@pytest.mark.parametrize("name", ["vgg8", "vgg13"])
def test_vgg_stages_follow_repdistillers_cifar_geometry(name):
    """Blocks 3 and 4 share a 4x4 map (RepDistiller pools before block 4 only for 64-pixel inputs): no 2x2 stage,
    whose attention map would swamp the other AT terms; the listed stages are those after the block0 stem."""
    model = build_model(name, (1, 28, 28), 10).eval()
    assert default_feature_layers(model) == ["block1", "block2", "block3", "block4"]
    with torch.no_grad(), FeatureTaps(model, default_feature_layers(model)) as taps:
        model(torch.zeros(1, 1, 28, 28))
        shapes = {layer: tuple(f.shape[1:]) for layer, f in taps.read().items()}
    assert shapes == {"block1": (128, 14, 14), "block2": (256, 7, 7), "block3": (512, 4, 4), "block4": (512, 4, 4)}


def test_input_channels_come_from_the_input_shape():
    assert build_model("resnet20", (3, 28, 28), 5)(torch.zeros(1, 3, 28, 28)).shape == (1, 5)
