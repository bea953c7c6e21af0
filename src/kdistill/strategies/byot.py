"""Be Your Own Teacher (Zhang et al. 2019): self-distillation through shallow exits attached to a network's stages.

Each named stage ``i`` of the student gets an exit head: a bottleneck that maps the stage's output to the shape of
the deepest feature F_C (the input of the network's own classifier), then a linear classifier. With the network's
own output z_C as the deepest exit, the step minimises

    CE(y, σ(z_C)) + Σ_i [ exit_ce_weight · CE(y, σ(z_i)) + soft_weight · T²·KL(σ(z_C/T) ‖ σ(z_i/T))
                          + hint_weight · ‖F_i − F_C‖² ]

with z_C and F_C detached in the soft and hint terms (the deepest exit is the teacher). Defaults follow the paper
(α = 0.3 on the soft term, 1 - α = 0.7 on the exit's CE, λ = 0.03 on the hint, T = 3); the hint here is the mean
squared difference per element. Stages are read through feature taps: the student's forward is unchanged, and the
heads belong to the strategy (trained and checkpointed with it). :func:`exit_report` gives accuracy and FLOPs per
exit, so a user can ship a cheaper exit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from kdistill.arguments import Temperature, Weight
from kdistill.batch import Batch, as_batch, forward_model
from kdistill.errors import ConfigError
from kdistill.features import FeatureTaps, default_feature_layers, find_module, unwrap_model
from kdistill.losses import hard_label_cross_entropy, kd_kl_divergence
from kdistill.strategies.spec import register_method
from kdistill.teachers import Teacher


class ExitHead(nn.Module):
    """Stage output -> (hint feature shaped like F_C, logits (B, C)).

    Maps (B, c, h, w) -> (B, C_F, H_F, W_F) with a 1x1 conv, BN, ReLU and adaptive pooling when F_C is a map, and
    anything -> (B, D_F) with pooling, a linear layer and ReLU when F_C is a vector.
    """

    def __init__(self, stage_shape: Sequence[int], feature_shape: Sequence[int], num_classes: int):
        super().__init__()
        self.feature_shape = tuple(feature_shape)  # without batch
        self.maps = len(stage_shape) == 3 and len(feature_shape) == 3
        if self.maps:
            self.bottleneck = nn.Sequential(nn.Conv2d(stage_shape[0], feature_shape[0], 1, bias=False),
                                            nn.BatchNorm2d(feature_shape[0]), nn.ReLU(),
                                            nn.AdaptiveAvgPool2d(tuple(feature_shape[1:])))
            self.classifier = nn.Linear(feature_shape[0], num_classes)
        else:
            in_features = stage_shape[0] if len(stage_shape) == 3 else math.prod(stage_shape)
            out_features = math.prod(feature_shape)
            self.bottleneck = nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU())
            self.classifier = nn.Linear(out_features, num_classes)

    def forward(self, stage_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.maps:
            flat = stage_output.mean(dim=(2, 3)) if stage_output.dim() == 4 else stage_output.flatten(1)
            feature = self.bottleneck(flat)  # (B, prod(F_C shape)), compared with F_C flattened
            return feature, self.classifier(feature)
        feature = self.bottleneck(stage_output)  # (B, C_F, H_F, W_F)
        return feature, self.classifier(feature.mean(dim=(2, 3)))


def byot_exit_terms(
    exit_logits: Sequence[torch.Tensor], exit_features: Sequence[torch.Tensor], deepest_logits: torch.Tensor,
    deepest_feature: torch.Tensor, labels: torch.Tensor, temperature: float,
) -> dict[str, torch.Tensor]:
    """Unweighted sums over the shallow exits: ``exit_ce``, ``exit_kd`` (T²·KL from the detached deepest exit) and
    ``hint`` (mean squared distance to the detached deepest feature)."""
    target_logits, target_feature = deepest_logits.detach(), deepest_feature.detach().float()
    return {
        "exit_ce": torch.stack([hard_label_cross_entropy(z, labels) for z in exit_logits]).sum(),
        "exit_kd": torch.stack([kd_kl_divergence(z, target_logits, temperature) for z in exit_logits]).sum(),
        "hint": torch.stack([F.mse_loss(f.float(), target_feature.reshape(f.shape)) for f in exit_features]).sum(),
    }


class BeYourOwnTeacher(nn.Module):
    """Exit heads on ``exit_layers``; the deepest exit is the student's own output, its feature ``feature_layer``."""

    def __init__(self, exit_layers: Sequence[str], feature_layer: str, heads: Sequence[nn.Module], temperature: float,
                 exit_ce_weight: float, soft_weight: float, hint_weight: float):
        super().__init__()
        self.exit_layers, self.feature_layer = list(exit_layers), feature_layer
        self.heads = nn.ModuleList(heads)
        self.temperature = temperature
        self.exit_ce_weight, self.soft_weight, self.hint_weight = exit_ce_weight, soft_weight, hint_weight

    def all_exits(self, batch: Batch, student: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor],
                                                                    torch.Tensor, torch.Tensor]:
        """(shallow exits' logits, their hint features, deepest logits, deepest feature), shallow first."""
        with FeatureTaps(student, [*self.exit_layers, self.feature_layer]) as taps:
            deepest_logits = forward_model(student, batch)  # (B, C)
            stages = taps.read()
        outputs = [head(stages[name]) for name, head in zip(self.exit_layers, self.heads)]
        return [o[1] for o in outputs], [o[0] for o in outputs], deepest_logits, stages[self.feature_layer]

    def forward(self, batch: Batch, student: nn.Module) -> dict[str, torch.Tensor]:
        exit_logits, exit_features, deepest_logits, deepest_feature = self.all_exits(batch, student)
        labels = batch["labels"]
        ce = hard_label_cross_entropy(deepest_logits, labels)
        terms = byot_exit_terms(exit_logits, exit_features, deepest_logits, deepest_feature, labels,
                                self.temperature)
        loss = (ce + self.exit_ce_weight * terms["exit_ce"] + self.soft_weight * terms["exit_kd"]
                + self.hint_weight * terms["hint"])
        return {"loss": loss, "output": deepest_logits, "ce": ce.detach(),
                **{name: value.detach() for name, value in terms.items()}}


def default_exit_layers(student: nn.Module) -> tuple[list[str], str]:
    """(every declared stage but the last, the last stage) from the student's ``FEATURE_LAYERS``."""
    layers = default_feature_layers(student)
    if len(layers) < 2:
        raise ConfigError("BYOT needs at least two stages; name exit_layers and feature_layer in method_args")
    return layers[:-1], layers[-1]


@register_method(
    "byot", uses_teacher=False, search_space={"temperature": ("log", 1.0, 8.0), "soft_weight": ("uniform", 0.0, 1.0)},
)
def byot(
    teacher: Teacher | None = None,
    student: nn.Module | None = None,
    example_batch: Batch | None = None,
    exit_layers: list[str] | None = None,
    feature_layer: str | None = None,
    temperature: Temperature = 3.0,
    exit_ce_weight: Weight = 0.7,
    soft_weight: Weight = 0.3,
    hint_weight: Weight = 0.03,
) -> BeYourOwnTeacher:
    """Be Your Own Teacher: shallow exits on the student's stages learn from its deepest exit (no teacher used)."""
    del teacher  # self-distillation: the deepest exit is the teacher
    if student is None or example_batch is None:
        raise ConfigError("method 'byot' sizes its exit heads from the student and one example batch; pass context "
                          "{'student': model, 'example_batch': batch}")
    if exit_layers is None or feature_layer is None:
        default_exits, default_feature = default_exit_layers(student)
        exit_layers = default_exits if exit_layers is None else exit_layers
        feature_layer = default_feature if feature_layer is None else feature_layer
    if not exit_layers:
        raise ConfigError("exit_layers is empty; name at least one stage to attach an exit to")
    for name in [*exit_layers, feature_layer]:
        find_module(student, name)
    model = unwrap_model(student)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FeatureTaps(model, [*exit_layers, feature_layer]) as taps:
            probe_logits = forward_model(model, as_batch(example_batch))
            shapes = {name: tuple(value.shape[1:]) for name, value in taps.read().items()}
    finally:
        model.train(was_training)
    num_classes = int(probe_logits.shape[-1])
    heads = [ExitHead(shapes[name], shapes[feature_layer], num_classes) for name in exit_layers]
    return BeYourOwnTeacher(exit_layers, feature_layer, heads, temperature, exit_ce_weight, soft_weight, hint_weight)


def exit_flops(student: nn.Module, strategy: BeYourOwnTeacher, example_inputs: torch.Tensor) -> list[int]:
    """FLOPs per sample of each exit, shallow first then the deepest: the student's layers that have run when the
    exit's stage finishes, plus the exit head (counted like ``evaluation.profile.flops_per_sample``)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = unwrap_model(student)
    results = []
    for index, name in enumerate(strategy.exit_layers):
        captured: dict[str, Any] = {}
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            def snapshot(module: nn.Module, inputs: Any, output: Any) -> None:
                captured["flops"], captured["output"] = counter.get_total_flops(), output

            handle = find_module(model, name).register_forward_hook(snapshot)
            try:
                model(example_inputs)
            finally:
                handle.remove()
            before_head = counter.get_total_flops()
            strategy.heads[index](captured["output"])
            head_flops = counter.get_total_flops() - before_head
        results.append(round((captured["flops"] + head_flops) / len(example_inputs)))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(example_inputs)
    results.append(round(counter.get_total_flops() / len(example_inputs)))
    return results


@torch.no_grad()
def exit_report(student: nn.Module, strategy: BeYourOwnTeacher, batches: Iterable) -> list[dict[str, Any]]:
    """``[{"exit", "layer", "accuracy", "flops_per_sample"}, ...]``, shallow exits first, the deepest last."""
    model = unwrap_model(student)
    was_training = model.training, strategy.training
    model.eval()
    strategy.eval()
    correct = [0] * (len(strategy.exit_layers) + 1)
    total, example = 0, None
    try:
        for raw in batches:
            batch = as_batch(raw)
            example = batch["inputs"][:2] if example is None else example
            exit_logits, _, deepest_logits, _ = strategy.all_exits(batch, model)
            for index, logits in enumerate([*exit_logits, deepest_logits]):
                correct[index] += int((logits.argmax(-1) == batch["labels"]).sum())
            total += len(batch["labels"])
        flops = exit_flops(model, strategy, example)
    finally:
        model.train(was_training[0])
        strategy.train(was_training[1])
    layers = [*strategy.exit_layers, f"{strategy.feature_layer} (network output)"]
    return [{"exit": index + 1, "layer": layer, "accuracy": correct[index] / max(total, 1),
             "flops_per_sample": flops[index]} for index, layer in enumerate(layers)]
