"""Distillation strategies: one file per method, registered by name, one step contract."""

from kdistill.strategies import hinton, supervised  # noqa: F401  (registers the methods)
from kdistill.strategies import attention, crd, dkd, fitnets, pkt, rkd, similarity  # noqa: F401  (feature methods)
from kdistill.strategies import byot, dml, specialist  # noqa: F401  (self-, mutual and class-specialised KD)
from kdistill.strategies.hinton import HintonStrategy
from kdistill.strategies.registry import (
    STRATEGIES,
    build_strategy,
    load_trainable_state,
    method_temperature,
    trainable_state,
    uses_teacher,
)
from kdistill.strategies.supervised import SupervisedStrategy

__all__ = [
    "STRATEGIES",
    "HintonStrategy",
    "SupervisedStrategy",
    "method_temperature",
    "build_strategy",
    "load_trainable_state",
    "trainable_state",
    "uses_teacher",
]
