import pytest

from kdistill.errors import ConfigError
from kdistill.features import default_feature_layers, resolve_layer_pairs, uniform_indices, uniform_pairs
from kdistill.models import MODELS, build_model

INPUT_SHAPE = (1, 12, 12)  # the reference nets accept any H, W; small images keep the tests fast


@pytest.mark.parametrize(
    ("students", "teachers", "expected"),
    [(3, 3, [0, 1, 2]), (3, 4, [0, 2, 3]), (3, 5, [1, 2, 4]), (2, 5, [2, 4]), (4, 3, [0, 1, 1, 2]), (1, 4, [3])],
)
def test_uniform_spreads_student_stages_evenly_and_ends_last_on_last(students, teachers, expected):
    indices = uniform_indices(students, teachers)
    assert indices == expected
    assert indices == sorted(indices) and indices[-1] == teachers - 1


def test_uniform_pairs_names():
    pairs = uniform_pairs(["s1", "s2", "s3"], ["t1", "t2", "t3", "t4", "t5"])
    assert pairs == [("s1", "t2"), ("s2", "t3"), ("s3", "t5")]


def test_resolve_named_strategies_and_explicit_pairs():
    student, teacher = build_model("resnet20", INPUT_SHAPE, 10), build_model("vgg8", INPUT_SHAPE, 10)
    assert resolve_layer_pairs("uniform", student, teacher) == [
        ("layer1", "block1"), ("layer2", "block3"), ("layer3", "block4")]
    assert resolve_layer_pairs("last", student, teacher) == [("layer3", "block4")]
    assert resolve_layer_pairs("middle", student, teacher) == [("layer2", "block3")]
    assert resolve_layer_pairs([["module.layer1", "block0"]], student, teacher) == [("layer1", "block0")]
    with pytest.raises(ConfigError):
        resolve_layer_pairs("everything", student, teacher)
    with pytest.raises(ConfigError, match="no module named"):
        resolve_layer_pairs([["layer1", "nope"]], student, teacher)


def test_models_without_default_layers_ask_for_explicit_pairs():
    with pytest.raises(ConfigError, match="layers"):
        default_feature_layers(build_model("mlp", INPUT_SHAPE, 10, hidden=[4]))


@pytest.mark.parametrize("name", [n for n in MODELS.names() if n not in ("mlp", "cnn")
                                  and getattr(MODELS.get(n), "inputs", None) != "text"])  # text: tests/text
def test_default_feature_layers_exist_on_every_reference_model(name):
    model = build_model(name, INPUT_SHAPE, 10)
    modules = dict(model.named_modules())
    assert all(layer in modules for layer in default_feature_layers(model))
