"""Be Your Own Teacher: every exit produces logits, gradients reach every head, the report covers every exit."""

import pytest
import torch
from torch import nn

from kdistill.data import ArrayLoader
from kdistill.errors import ConfigError
from kdistill.strategies import build_strategy
from kdistill.strategies.byot import exit_flops, exit_report


class ThreeStageNet(nn.Module):
    FEATURE_LAYERS = ("stage1", "stage2", "stage3")

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())  # (B, 4, 8, 8)
        self.stage2 = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, stride=2), nn.ReLU())  # (B, 6, 4, 4)
        self.stage3 = nn.Sequential(nn.Conv2d(6, 8, 3, padding=1, stride=2), nn.ReLU())  # (B, 8, 2, 2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, images):
        return self.head(self.stage3(self.stage2(self.stage1(images))))


def batch(size=6):
    generator = torch.Generator().manual_seed(0)
    return {"inputs": torch.randn(size, 1, 8, 8, generator=generator),
            "labels": torch.randint(0, 5, (size,), generator=generator)}


def build(student, **args):
    return build_strategy("byot", context={"student": student, "example_batch": batch()}, **args)


def test_every_exit_produces_logits_and_a_hint_shaped_like_the_deepest_feature():
    torch.manual_seed(0)
    student = ThreeStageNet()
    strategy = build(student)
    assert strategy.exit_layers == ["stage1", "stage2"] and strategy.feature_layer == "stage3"
    exit_logits, features, deepest, deepest_feature = strategy.all_exits(batch(), student)
    assert [tuple(z.shape) for z in exit_logits] == [(6, 5), (6, 5)] and deepest.shape == (6, 5)
    assert all(f.shape == deepest_feature.shape == (6, 8, 2, 2) for f in features)


def test_gradients_reach_every_head_and_every_student_layer():
    torch.manual_seed(0)
    student = ThreeStageNet()
    strategy = build(student)
    step = strategy(batch(), student)
    assert {"ce", "exit_ce", "exit_kd", "hint"} <= set(step)
    step["loss"].backward()
    for name, parameter in [*student.named_parameters(), *strategy.named_parameters()]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_vector_features_get_linear_heads():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 5))
    strategy = build(student, exit_layers=["2"], feature_layer="4")
    exit_logits, features, _, deepest_feature = strategy.all_exits(batch(), student)
    assert exit_logits[0].shape == (6, 5) and features[0].shape == deepest_feature.shape == (6, 12)


def test_exit_report_lists_accuracy_and_growing_flops_for_every_exit():
    torch.manual_seed(0)
    student = ThreeStageNet()
    strategy = build(student)
    data = batch(20)
    loader = ArrayLoader(data["inputs"], data["labels"], batch_size=8, shuffle=False)
    report = exit_report(student, strategy, loader)
    assert [row["exit"] for row in report] == [1, 2, 3]
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in report)
    flops = [row["flops_per_sample"] for row in report]
    assert flops == exit_flops(student, strategy, data["inputs"][:2])
    assert 0 < flops[0] < flops[1] and flops[-1] > flops[0]
    # the deepest exit's FLOPs are the whole network's
    assert flops[-1] == 2 * (4 * 9 * 64 + 6 * 4 * 9 * 16 + 8 * 6 * 9 * 4 + 8 * 5)


def test_byot_needs_an_example_batch_and_known_layers():
    with pytest.raises(ConfigError, match="example batch"):
        build_strategy("byot", context={"student": ThreeStageNet()})
    with pytest.raises(ConfigError, match="nope"):
        build(ThreeStageNet(), exit_layers=["nope"])


def test_vector_stage_onto_a_feature_map_gets_a_flat_hint():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Unflatten(1, (10, 1, 1)), nn.Conv2d(10, 4, 1),
                            nn.ReLU(), nn.Flatten(), nn.Linear(4, 5))
    strategy = build(student, exit_layers=["1"], feature_layer="4")
    exit_logits, features, _, deepest_feature = strategy.all_exits(batch(), student)
    assert exit_logits[0].shape == (6, 5) and features[0].shape == (6, 4) and deepest_feature.shape == (6, 4, 1, 1)
    strategy(batch(), student)["loss"].backward()
