"""Strategy registry and the step contract.

A strategy is an ``nn.Module`` whose ``forward(batch, student)`` runs one training step's computation and returns

    {"loss": weighted total (scalar, requires grad), "output": student logits, <term>: unweighted value, ...}

The total is an explicit weighted sum with weights named in the config. The training loop only calls this, so it
never branches on the method. A strategy owns whatever else the method needs (teacher, connector layers); parameters
of a strategy that require grad are trained with the student and saved in its checkpoints, the teacher is not.

What a method is (teacher or not, features, arguments with types and ranges) is declared once, by
:func:`~kdistill.strategies.spec.register_method`. Builders take ``teacher`` (a :class:`~kdistill.teachers.Teacher`
or None) plus the method's own keyword arguments, and may declare any of the context arguments ``student`` (e.g. to
size connectors from probed feature shapes), ``example_batch`` (one training batch) and ``num_samples`` (training-set
size, e.g. for a memory bank); ``build_strategy`` passes those only to builders that declare them.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from kdistill.strategies.spec import STRATEGIES, method_spec
from kdistill.teachers import Teacher


def build_strategy(
    name: str, teacher: Teacher | None = None, context: dict[str, Any] | None = None, **method_args: Any
) -> nn.Module:
    """Build a registered strategy; ``method_args`` are checked against its spec (names, types, ranges).

    ``context`` may hold ``student``, ``example_batch`` and ``num_samples``; each is passed only if the builder
    declares it (and a recipe cannot set them: they are not method arguments).
    """
    spec = method_spec(name)
    method_args = spec.validate(method_args)
    accepted = inspect.signature(spec.builder).parameters
    extra = {key: value for key, value in (context or {}).items() if key in accepted}
    return STRATEGIES.build(name, teacher=teacher, **extra, **method_args)


def uses_teacher(name: str) -> bool:
    """Whether the registered method ``name`` distils from a pre-trained teacher."""
    return method_spec(name).uses_teacher


def method_temperature(name: str, method_args: dict[str, Any]) -> float:
    """The temperature the method distils at (see :meth:`MethodSpec.temperature`)."""
    return method_spec(name).temperature(method_args)


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
