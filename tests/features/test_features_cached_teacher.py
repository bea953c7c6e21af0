"""Feature methods with a cached teacher: the stored features stand in for the teacher's network, same losses."""

import pytest
import torch

from kdistill.cache import CacheSettings, CachedTeacher, TeacherCache, build_cache
from kdistill.data import ArrayLoader
from kdistill.errors import ConfigError
from kdistill.features import default_feature_layers
from kdistill.models import build_model
from kdistill.strategies import build_strategy
from kdistill.strategies import methods_where
from kdistill.teachers import FrozenTeacher
from kdistill.training import TrainConfig, train

INPUT_SHAPE = (1, 12, 12)
METHODS = methods_where(reads_features=True, models="any")  # text methods: tests/text


@pytest.fixture
def data():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(24, *INPUT_SHAPE, generator=generator), torch.arange(24) % 10


@pytest.fixture
def teacher_net():
    torch.manual_seed(0)
    return build_model("wrn_16_2", INPUT_SHAPE, 10)


def cached_teacher(folder, teacher_net, data, layers):
    images, labels = data
    build_cache(folder, teacher_net, images, labels, CacheSettings(views=1, features=tuple(layers)), dataset="toy",
                max_shift=0, seed=0, batch_size=8, progress=False)
    return CachedTeacher(TeacherCache(folder))


def strategy_for(method, teacher, student, batch):
    torch.manual_seed(3)  # CRD draws its heads and negatives at random: same draws on both sides
    context = {"student": student, "example_batch": batch, "num_samples": 24}
    return build_strategy(method, teacher=teacher, context=context, kd_weight=0.5)


@pytest.mark.parametrize("method", METHODS)
def test_cached_features_give_the_live_teachers_loss(method, tmp_path, teacher_net, data):
    cached = cached_teacher(tmp_path, teacher_net, data, default_feature_layers(teacher_net))
    images, labels = data
    batch = next(iter(ArrayLoader(images, labels, 8, shuffle=False)))
    torch.manual_seed(1)
    student = build_model("resnet20", INPUT_SHAPE, 10).eval()  # eval: two calls see the same BN statistics
    live_step = strategy_for(method, FrozenTeacher(teacher_net), student, batch).eval()
    cached_step = strategy_for(method, cached, student, batch).eval()
    torch.manual_seed(4)
    live = live_step(batch, student)
    torch.manual_seed(4)
    served = cached_step(batch, student)
    for name in live:
        if name != "output":  # features are stored as float16: close, not bit-equal
            torch.testing.assert_close(served[name], live[name], rtol=1e-2, atol=1e-4, msg=name)


def test_a_layer_the_cache_does_not_store_names_the_fix(tmp_path, teacher_net, data):
    cached = cached_teacher(tmp_path, teacher_net, data, ["layer3"])
    images, labels = data
    batch = next(iter(ArrayLoader(images, labels, 8, shuffle=False)))
    student = build_model("resnet20", INPUT_SHAPE, 10)
    stored = cached.cache.features[0]
    with pytest.raises(ConfigError, match="distill.cache.features"):
        build_strategy("fitnets", teacher=cached, context={"student": student, "example_batch": batch},
                       layers=[["layer1", "no_such_layer"]])
    # the stored layers stand in for the teacher's stages: `last` pairs the student's last stage with them
    strategy = build_strategy("sp", teacher=cached, context={"student": student, "example_batch": batch},
                              layers="last")
    assert strategy.pairs == [(default_feature_layers(student)[-1], stored)]


def test_distillation_trains_from_the_cache_without_running_the_teacher(tmp_path, teacher_net, data):
    cached = cached_teacher(tmp_path, teacher_net, data, default_feature_layers(teacher_net))
    calls = []
    teacher_net.register_forward_hook(lambda *args: calls.append(1))
    images, labels = data
    loader = ArrayLoader(images, labels, 8, seed=0)
    student = build_model("resnet20", INPUT_SHAPE, 10)
    strategy = build_strategy("at", teacher=cached, context={"student": student, "example_batch": next(iter(loader))})
    result = train(student, strategy, loader, None, TrainConfig(epochs=2, batch_size=8, lr=0.01))
    assert not calls
    assert all(torch.isfinite(torch.tensor(record["train_at"])) for record in result.history)
