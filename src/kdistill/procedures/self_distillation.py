"""Be Your Own Teacher experiment (Zhang et al. 2019): the network trained alone vs with BYOT exits, and the test
accuracy and FLOPs of every exit, so a cheaper exit can be picked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdistill.procedures.common import (
    ModelSpec,
    Splits,
    accuracy_on,
    build_seeded_model,
    eval_loader,
    fit_model,
    train_loader,
)
from kdistill.procedures.registry import PROCEDURES
from kdistill.strategies import build_strategy
from kdistill.strategies.byot import exit_report
from kdistill.training import TrainConfig
from kdistill.training import train as train_loop  # `train` is the procedures' settings argument


@PROCEDURES.register("byot")
def byot_experiment(
    splits: Splits,
    model: ModelSpec,
    train: Mapping[str, Any],
    exit_layers: list[str] | None = None,
    feature_layer: str | None = None,
    method_args: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Baseline (CE only) vs BYOT: accuracy of the deepest exit and of each shallow exit, with FLOPs."""
    net_seed = 1000 * seed
    alone = build_seeded_model(model, splits.input_shape, splits.num_classes, net_seed)
    fit_model(alone, splits.train_images, splits.train_labels, splits, train, net_seed)
    student = build_seeded_model(model, splits.input_shape, splits.num_classes, net_seed)
    batches = train_loader(splits.train_images, splits.train_labels, train, net_seed)
    strategy = build_strategy("byot", context={"student": student, "example_batch": next(iter(batches))},
                              exit_layers=exit_layers, feature_layer=feature_layer, **dict(method_args or {}))
    # select=last: the exit heads live in the strategy and must come from the student's epoch
    train_loop(student, strategy, batches, eval_loader(splits.val_images, splits.val_labels),
          TrainConfig(**{**train, "select": "last", "seed": net_seed}), desc="byot")
    return {
        "alone_accuracy": accuracy_on(alone, splits.test_images, splits.test_labels),
        "exits": exit_report(student, strategy, eval_loader(splits.test_images, splits.test_labels)),
    }
