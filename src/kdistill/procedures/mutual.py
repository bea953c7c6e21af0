"""Deep Mutual Learning experiment (Zhang et al. 2018, Table 1 form): each network alone vs the same networks trained
together with :mod:`kdistill.strategies.dml`, plus "net 2 distilled from a trained net 1" as the offline reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kdistill.procedures.common import (
    ModelSpec,
    Splits,
    accuracy_on,
    build_seeded_model,
    distill_model,
    eval_loader,
    fit_model,
    train_loader,
)
from kdistill.procedures.registry import PROCEDURES
from kdistill.strategies.dml import DeepMutualLearning
from kdistill.training import TrainConfig
from kdistill.training import train as train_loop  # `train` is the procedures' settings argument


@PROCEDURES.register("dml")
def mutual_learning_experiment(
    splits: Splits,
    networks: Sequence[ModelSpec],
    train: Mapping[str, Any],
    temperature: float = 1.0,
    mutual_weight: float = 1.0,
    kd_baseline: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """K >= 2 networks: accuracy alone, after DML, and (kd_baseline) net 2 distilled from the trained net 1."""
    if len(networks) < 2:
        raise ValueError(f"deep mutual learning needs at least 2 networks; got {len(networks)}")
    options = {**train, "select": "last"}  # the peers' final weights must match the student's epoch
    seeds = [1000 * seed + index for index in range(len(networks))]
    alone = []
    for spec, net_seed in zip(networks, seeds):
        network = build_seeded_model(spec, splits.input_shape, splits.num_classes, net_seed)
        fit_model(network, splits.train_images, splits.train_labels, splits, options, net_seed)
        alone.append(network)
    together = [build_seeded_model(spec, splits.input_shape, splits.num_classes, net_seed)
                for spec, net_seed in zip(networks, seeds)]  # the same initial weights as alone
    strategy = DeepMutualLearning(together[1:], temperature, ce_weight=1.0, mutual_weight=mutual_weight)
    config = TrainConfig(**{**options, "seed": seeds[0]})
    train_loop(together[0], strategy, train_loader(splits.train_images, splits.train_labels, options, seeds[0]),
          eval_loader(splits.val_images, splits.val_labels), config, desc="dml")
    result: dict[str, Any] = {
        "networks": [describe_model(spec) for spec in networks],
        "alone_accuracy": [accuracy_on(m, splits.test_images, splits.test_labels) for m in alone],
        "dml_accuracy": [accuracy_on(m, splits.test_images, splits.test_labels) for m in together],
        # how well each network alone fits its training set (DML's gain is a regulariser's gain)
        "alone_train_accuracy": [accuracy_on(m, splits.train_images, splits.train_labels) for m in alone],
    }
    if kd_baseline:
        student_seed = seeds[1] + 500
        student = build_seeded_model(networks[1], splits.input_shape, splits.num_classes, student_seed)
        distill_model(alone[0], student, train_loader(splits.train_images, splits.train_labels, options, student_seed),
                      eval_loader(splits.val_images, splits.val_labels), options, student_seed,
                      temperature=4.0, ce_weight=0.1, kd_weight=0.9)
        result["net2_distilled_from_net1_accuracy"] = accuracy_on(student, splits.test_images, splits.test_labels)
    return result


def describe_model(spec: ModelSpec) -> str:
    """``mlp hidden=[1200, 1200]``: the model's name and its arguments, short enough for a table cell."""
    arguments = " ".join(f"{key}={value}" for key, value in dict(spec.get("model_args", {})).items())
    return f"{spec['model']} {arguments}".strip()
