"""Checking plain values (from YAML or keyword arguments) against type annotations, with errors naming the key.

Imports nothing of kdistill but its errors, so every layer (config, builder arguments) can use it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any, Literal

from kdistill.errors import ConfigError


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def coerce(annotation: Any, value: Any, path: str) -> Any:
    """Check ``value`` against a type annotation (dataclass, int/float/str/bool, list, dict, Optional)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # the type, then each constraint (kdistill.arguments.Range, OneOf, Check)
        base, *constraints = typing.get_args(annotation)
        value = coerce(base, value, path)
        for constraint in constraints:
            if callable(getattr(constraint, "check", None)):
                constraint.check(value, path)
        return value
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(f"'{path}' must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        from kdistill.config.validate import from_dict  # dataclass sections: the recipe schema's own walker

        return from_dict(annotation, value, path)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(option, value, path)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"'{path}' has an invalid value {value!r}")
    if origin in (list, collections.abc.Sequence) or (origin is tuple and ... in typing.get_args(annotation)):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' must be a list, got {value!r}")
        item_type = (typing.get_args(annotation) or (Any,))[0]
        return [coerce(item_type, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:  # fixed length, e.g. tuple[int, int]
        item_types = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(item_types):
            raise ConfigError(f"'{path}' must be a list of {len(item_types)} values, got {value!r}")
        return [coerce(item_type, item, f"{path}[{i}]") for i, (item_type, item) in enumerate(zip(item_types, value))]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{path}' must be a mapping, got {value!r}")
        _, value_type = typing.get_args(annotation) or (str, Any)
        return {str(k): coerce(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{path}' must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{path}' must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{path}' must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{path}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"'{path}': unsupported type {annotation}")


def check_fields(instance: Any, path: str) -> None:
    """Check every field of a dataclass instance against its annotation (types, ranges, choices), in place: a
    dataclass built directly in Python gets the same checks as one read from a recipe."""
    hints = typing.get_type_hints(type(instance), include_extras=True)
    for field in dataclasses.fields(instance):
        setattr(instance, field.name, coerce(hints[field.name], getattr(instance, field.name), join(path, field.name)))
