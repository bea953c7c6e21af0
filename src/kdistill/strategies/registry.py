"""Strategy registry and the step contract.

A strategy is an ``nn.Module`` whose ``forward(batch, student)`` runs one training step's computation and returns

    {"loss": weighted total (scalar, requires grad), "output": student logits, <term>: unweighted value, ...}

The total is an explicit weighted sum with weights named in the config. The training loop only calls this, so it
never branches on the method. A strategy owns whatever else the method needs (teacher, connector layers); parameters
of a strategy that require grad are trained with the student and saved in its checkpoints, the teacher is not.

Builders take ``teacher`` (a :class:`~kdistill.teachers.Teacher` or None) plus the method's own keyword arguments.
A builder may also declare any of the context arguments ``student`` (the student module, e.g. to size connectors from
probed feature shapes), ``example_batch`` (one training batch) and ``num_samples`` (training-set size, e.g. for a
memory bank); ``build_strategy`` passes those only to builders that declare them.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from kdistill.registry import Registry
from kdistill.teachers import Teacher

STRATEGIES = Registry("distillation method")


CONTEXT_ARGUMENTS = ("student", "example_batch", "num_samples")


def build_strategy(
    name: str, teacher: Teacher | None = None, context: dict[str, Any] | None = None, **method_args: Any
) -> nn.Module:
    """Build a registered strategy; unknown ``method_args`` are rejected by name.

    ``context`` may hold ``student``, ``example_batch`` and ``num_samples``; each is passed only if the builder
    declares it (and a recipe cannot set them: they are not method arguments).
    """
    reserved = sorted(set(method_args) & set(CONTEXT_ARGUMENTS))
    if reserved:
        from kdistill.errors import ConfigError

        raise ConfigError(f"method argument(s) {', '.join(reserved)} are set by kdistill, not by the recipe")
    builder = STRATEGIES.get(name)
    accepted = inspect.signature(builder).parameters
    extra = {key: value for key, value in (context or {}).items() if key in accepted}
    return STRATEGIES.build(name, teacher=teacher, **extra, **method_args)


def teacher_free(builder: Any) -> Any:
    """Mark a method that takes no pre-trained teacher (online or self-distillation, plain training): ``kdistill
    run`` then trains none and compares the distilled student with the student trained alone."""
    builder.uses_teacher = False
    return builder


def uses_teacher(name: str) -> bool:
    """Whether the registered method ``name`` distils from a pre-trained teacher."""
    return getattr(STRATEGIES.get(name), "uses_teacher", True)


def method_temperature(name: str, method_args: dict[str, Any]) -> float:
    """The temperature the method distils at: the recipe's ``temperature``, else the method's default (1.0 for a
    method without one). Teachers that depend on it (a cache's top-k fill, an averaged ensemble) use this value."""
    if "temperature" in method_args:
        return float(method_args["temperature"])
    parameter = inspect.signature(STRATEGIES.get(name)).parameters.get("temperature")
    return 1.0 if parameter is None or parameter.default is inspect.Parameter.empty else float(parameter.default)


def trainable_state(strategy: nn.Module) -> dict[str, Any]:
    """The strategy's own state (connectors etc.), without any teacher's weights: what a checkpoint must hold."""
    teacher_prefixes = tuple(f"{name}." for name, module in strategy.named_modules() if isinstance(module, Teacher))
    return {key: value for key, value in strategy.state_dict().items() if not key.startswith(teacher_prefixes)}


def load_trainable_state(strategy: nn.Module, state: dict[str, Any]) -> None:
    """Inverse of :func:`trainable_state`: teacher keys are expected to be missing."""
    missing, unexpected = strategy.load_state_dict(state, strict=False)
    expected = set(trainable_state(strategy))
    if unexpected or expected - set(state):
        raise KeyError(f"strategy state mismatch: missing {sorted(expected - set(state))}, unexpected {unexpected}")
