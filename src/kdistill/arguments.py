"""Typed, ranged builder arguments: a builder's signature is the one place its arguments are declared.

A builder (a distillation method, a model) annotates each argument with its type and, where a value can be
nonsensical, a constraint::

    def hinton(teacher=None, temperature: Temperature = 4.0, ce_weight: Weight = 0.1, ...)

:func:`validate_arguments` checks a recipe's values against those annotations - unknown names, wrong types, values
out of range - *before* anything trains, with one-line errors that name the key, the value and what is allowed.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from kdistill.errors import ConfigError
from kdistill.values import coerce


@dataclass(frozen=True)
class Range:
    """Numeric bounds; ``None`` = unbounded on that side. Non-finite values are always refused."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"'{path}' must be a finite number, got {value!r}")
            failed = ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                      or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))
            if failed:
                raise ConfigError(f"'{path}' must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        parts = [f"{symbol} {bound:g}" for symbol, bound in
                 ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)) if bound is not None]
        return " and ".join(parts)


@dataclass(frozen=True)
class OneOf:
    """The value must be one of ``choices``."""

    choices: tuple[Any, ...]

    def check(self, value: Any, path: str) -> None:
        if value not in self.choices:
            raise ConfigError(f"'{path}' must be one of {', '.join(map(str, self.choices))}; got {value!r}")


@dataclass(frozen=True)
class Check:
    """A custom rule: ``rule(value)`` returns an error message (what is allowed) or None."""

    rule: Callable[[Any], str | None]

    def check(self, value: Any, path: str) -> None:
        message = self.rule(value)
        if message:
            raise ConfigError(f"'{path}' {message}; got {value!r}")


# The shared vocabulary of builder arguments.
Weight = Annotated[float, Range(ge=0)]  # a loss weight: a negative one would maximise its loss
Temperature = Annotated[float, Range(gt=0)]
Positive = Annotated[float, Range(gt=0)]
NonNegative = Annotated[float, Range(ge=0)]
Fraction = Annotated[float, Range(ge=0, le=1)]
PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]


@dataclass(frozen=True)
class Argument:
    """One declared argument: its name, type annotation (constraints stripped), default and constraints."""

    name: str
    annotation: Any
    default: Any
    constraints: tuple[Any, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def validate(self, value: Any, path: str) -> Any:
        value = coerce(self.annotation, value, path)
        for constraint in self.constraints:
            constraint.check(value, path)
        return value

    def describe(self) -> str:
        """``temperature: float > 0 = 4.0`` for listings."""
        type_name = "value" if any(isinstance(c, Check) for c in self.constraints) else describe_type(self.annotation)
        rules = " ".join(c.describe() if isinstance(c, Range) else f"in {{{', '.join(map(str, c.choices))}}}"
                         for c in self.constraints if isinstance(c, (Range, OneOf)))
        default = "" if self.required else f" = {self.default!r}"
        return f"{self.name}: {type_name}{' ' + rules if rules else ''}{default}"


def describe_type(annotation: Any) -> str:
    """``Sequence[Annotated[int, Range(ge=1)]] | None`` -> ``list[int >= 1] | None``: readable in listings."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        rules = [c.describe() for c in args[1:] if isinstance(c, Range)]
        return " ".join([describe_type(args[0]), *rules])
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else describe_type(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence):
        return f"list[{describe_type(args[0])}]" if args else "list"
    if origin is typing.Literal:
        return "{" + ", ".join(map(str, args)) + "}"
    return getattr(annotation, "__name__", str(annotation))


def declared_arguments(builder: Callable[..., Any], skip: Sequence[str] = ()) -> dict[str, Argument]:
    """The builder's keyword arguments (minus ``skip``: context kdistill supplies itself), with their types."""
    hints = typing.get_type_hints(builder, include_extras=True)
    arguments = {}
    for name, parameter in inspect.signature(builder).parameters.items():
        if name in skip or parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            continue
        annotation, constraints = hints.get(name, Any), ()
        if typing.get_origin(annotation) is Annotated:
            annotation, *extras = typing.get_args(annotation)
            constraints = tuple(extras)
        arguments[name] = Argument(name, annotation, parameter.default, constraints)
    return arguments


def validate_arguments(builder: Callable[..., Any], values: dict[str, Any], path: str,
                       skip: Sequence[str] = (), reserved_reason: str = "") -> dict[str, Any]:
    """Check ``values`` against the builder's declared arguments; return them with types coerced (4 -> 4.0).

    ``path`` names the recipe section in errors (``distill.method_args``); names in ``skip`` are supplied by kdistill
    and refused with ``reserved_reason``.
    """
    reserved = sorted(set(values) & set(skip))
    if reserved:
        raise ConfigError(f"'{path}.{reserved[0]}' is set by kdistill{reserved_reason}; remove it from the recipe")
    arguments = declared_arguments(builder, skip)
    unknown = sorted(set(values) - set(arguments))
    if unknown:
        raise ConfigError(f"unknown key '{path}.{unknown[0]}'; valid keys: {', '.join(arguments) or 'none'}")
    return {name: arguments[name].validate(value, f"{path}.{name}") for name, value in values.items()}
