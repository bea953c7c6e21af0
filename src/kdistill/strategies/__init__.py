"""Distillation strategies: one file per method, registered by name, one step contract."""

from kdistill.strategies import (  # noqa: F401  (registers the methods)  # noqa: F401  (feature methods)  # noqa: F401  (self-, mutual and class-specialised KD)
    attention,
    byot,
    crd,
    dkd,
    dml,
    fitnets,
    hinton,
    lm_distill,
    pkt,
    rkd,
    similarity,
    specialist,
    supervised,
    tinybert,
    sentence_embedding,
)
from kdistill.strategies.hinton import HintonStrategy
from kdistill.strategies.registry import (
    STRATEGIES,
    build_strategy,
    load_trainable_state,
    method_temperature,
    trainable_state,
    uses_teacher,
)
from kdistill.strategies.spec import MethodSpec, method_spec, methods_where, register_method
from kdistill.strategies.supervised import SupervisedStrategy

__all__ = [
    "STRATEGIES",
    "HintonStrategy",
    "MethodSpec",
    "SupervisedStrategy",
    "build_strategy",
    "load_trainable_state",
    "method_spec",
    "method_temperature",
    "methods_where",
    "register_method",
    "trainable_state",
    "uses_teacher",
]
