"""What a distillation method is, declared once where it is registered.

    @register_method("hinton", search_space={"temperature": ("log", 1.0, 20.0), ...})
    def hinton(teacher=None, temperature: Temperature = 4.0, ce_weight: Weight = 0.1, kd_weight: Weight = 0.9): ...

The spec records whether the method uses a pre-trained teacher, whether it reads intermediate features, whether it
needs each sample's index, its arguments (types, ranges and defaults straight from the builder's signature) and the
space a tuner searches. Recipe validation, the pipeline, the teacher cache, ``kdistill methods`` and tuning all read
the spec; nothing else keeps lists of method names or probes a builder's attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kdistill.arguments import Argument, declared_arguments, validate_arguments
from kdistill.errors import ConfigError
from kdistill.registry import Registry, first_doc_line

STRATEGIES = Registry("distillation method")

# Supplied by kdistill when it builds a method, never by a recipe.
CONTEXT_ARGUMENTS = ("teacher", "student", "example_batch", "num_samples")

# A search dimension: ("log", low, high) | ("uniform", low, high) | ("int", low, high) | ("choice", [values]).
SearchDimension = tuple[Any, ...]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    builder: Callable[..., Any]
    uses_teacher: bool = True  # False: online / self-distillation, trains no teacher first
    reads_features: bool = False  # taps intermediate layers: needs one network (or a cache storing its features)
    needs_index: bool = False  # reads batch["index"] (a memory bank per sample)
    models: str = "any"  # the networks it works on: "any", or "bert" (BERT-family encoders: embeddings, encoder.layer)
    search_space: dict[str, SearchDimension] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return first_doc_line(self.builder)

    @property
    def arguments(self) -> dict[str, Argument]:
        """The recipe-settable arguments, by name, in signature order."""
        return declared_arguments(self.builder, skip=CONTEXT_ARGUMENTS)

    def defaults(self) -> dict[str, Any]:
        return {name: arg.default for name, arg in self.arguments.items() if not arg.required}

    def validate(self, method_args: dict[str, Any], path: str = "distill.method_args") -> dict[str, Any]:
        """Types and ranges of every given argument (coerced), then the rules that span several arguments."""
        values = validate_arguments(self.builder, method_args, path, skip=CONTEXT_ARGUMENTS,
                                    reserved_reason=f" when it builds method '{self.name}'")
        resolved = {**self.defaults(), **values}
        weights = {name: value for name, value in resolved.items() if name.endswith("_weight")}
        if weights and not any(weights.values()):
            raise ConfigError(f"every loss weight of method '{self.name}' is 0 ({', '.join(weights)}): nothing would "
                              f"train; give at least one of them a positive value")
        return values

    def temperature(self, method_args: dict[str, Any]) -> float:
        """The temperature the method distils at: the recipe's, else its default, else 1.0 (no temperature).
        Teachers that depend on it (a cache's top-k fill, an averaged ensemble) use this value."""
        if "temperature" in method_args:
            return float(method_args["temperature"])
        argument = self.arguments.get("temperature")
        return 1.0 if argument is None or argument.required or argument.default is None else float(argument.default)


def register_method(name: str, *, uses_teacher: bool = True, reads_features: bool = False, needs_index: bool = False,
                    models: str = "any",
                    search_space: dict[str, SearchDimension] | None = None) -> Callable[[Callable], Callable]:
    """Register a method builder under ``name`` together with its spec (see the module docstring)."""

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        spec = MethodSpec(name, builder, uses_teacher, reads_features, needs_index, models, dict(search_space or {}))
        unknown = sorted(set(spec.search_space) - set(spec.arguments))
        if unknown:
            raise ValueError(f"method '{name}' searches {unknown}, which are not arguments of its builder")
        for argument, dimension in spec.search_space.items():
            check_dimension(dimension, f"method '{name}' search space '{argument}'", spec.arguments[argument])
        STRATEGIES.register(name)(builder)
        builder.spec = spec  # type: ignore[attr-defined]
        return builder

    return decorator


def method_spec(name: str) -> MethodSpec:
    """The registered spec of method ``name`` (ConfigError listing the methods if unknown)."""
    return STRATEGIES.get(name).spec  # type: ignore[attr-defined,no-any-return]


def methods_where(**flags: bool) -> list[str]:
    """Names of the methods whose spec has the given flag values, e.g. ``methods_where(reads_features=True)``."""
    return [name for name in STRATEGIES.names() if all(getattr(method_spec(name), key) == value
                                                        for key, value in flags.items())]


def check_dimension(dimension: SearchDimension, where: str, argument: Argument | None = None) -> None:
    """A well-formed search dimension whose every value the argument accepts (its ends and, for choices, each value);
    ValueError naming ``where`` otherwise: a declaration error a tuner would otherwise meet mid-study."""
    kinds = {"log": 3, "uniform": 3, "int": 3, "choice": 2}
    if not isinstance(dimension, tuple) or not dimension or dimension[0] not in kinds \
            or len(dimension) != kinds[dimension[0]]:
        raise ValueError(f"{where}: {dimension!r} is not (\"log\"|\"uniform\"|\"int\", low, high) or "
                         f"(\"choice\", [values])")
    if dimension[0] == "choice":
        values = list(dimension[1]) if isinstance(dimension[1], (list, tuple)) else []
        if not values:
            raise ValueError(f"{where}: a choice needs a non-empty list of values, got {dimension[1]!r}")
    else:
        low, high = dimension[1], dimension[2]
        number = (int,) if dimension[0] == "int" else (int, float)
        if not all(isinstance(bound, number) and not isinstance(bound, bool) for bound in (low, high)) \
                or not low < high:
            raise ValueError(f"{where}: bounds must be numbers with low < high, got {low!r}, {high!r}")
        if dimension[0] == "log" and low <= 0:
            raise ValueError(f"{where}: a log-scaled dimension needs low > 0, got {low!r}")
        values = [low, high]
    if argument is not None:
        for value in values:
            try:
                argument.validate(value, argument.name)
            except ConfigError as error:
                raise ValueError(f"{where}: {error}") from None
