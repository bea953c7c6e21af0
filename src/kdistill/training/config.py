"""Training hyper-parameters: a flat dataclass, filled from the recipe's ``train`` sections."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """How one model is trained. Every field is a recipe key."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"  # constant | cosine | step
    warmup_epochs: float = 0.0
    step_epochs: int = 30  # for schedule=step: multiply lr by step_gamma every step_epochs
    step_gamma: float = 0.1
    grad_clip: float | None = None  # max global gradient norm; None = no clipping
    select: str = "best"  # best | last: which epoch's weights the run keeps (best = highest val accuracy)
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 (autocast for the step, also on CPU; losses stay float32)

    def __post_init__(self) -> None:
        checks = {
            "epochs must be >= 1": self.epochs >= 1,
            "batch_size must be >= 1": self.batch_size >= 1,
            "lr must be > 0": self.lr > 0,
            "optimizer must be sgd, adam or adamw": self.optimizer in ("sgd", "adam", "adamw"),
            "schedule must be constant, cosine or step": self.schedule in ("constant", "cosine", "step"),
            "select must be best or last": self.select in ("best", "last"),
            "precision must be fp32 or bf16": self.precision in ("fp32", "bf16"),
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            from kdistill.errors import ConfigError

            raise ConfigError(f"invalid training settings: {'; '.join(failed)} (got {self})")
