"""Training hyper-parameters: a flat dataclass, filled from the recipe's ``train`` sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kdistill.arguments import Fraction, NonNegative, NonNegativeInt, Positive, PositiveInt
from kdistill.values import check_fields


@dataclass
class TrainConfig:
    """How one model is trained. Every field is a recipe key; types and ranges are checked on construction, so the
    Python API (``kdistill.distill(lr=...)``) and recipes refuse the same values."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 128
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: Positive = 0.1
    momentum: Fraction = 0.9
    nesterov: bool = False
    weight_decay: NonNegative = 0.0
    schedule: Literal["constant", "cosine", "step"] = "cosine"
    warmup_epochs: NonNegative = 0.0
    step_epochs: PositiveInt = 30  # for schedule=step: multiply lr by step_gamma every step_epochs
    step_gamma: Positive = 0.1
    grad_clip: Positive | None = None  # max global gradient norm; None = no clipping
    select: Literal["best", "last"] = "best"  # which epoch's weights the run keeps (best = highest val accuracy)
    seed: NonNegativeInt = 0
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast for the step, also on CPU; losses stay float32

    def __post_init__(self) -> None:
        check_fields(self, "train")
