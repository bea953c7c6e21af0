"""Turn plain dicts (from YAML) into schema dataclasses, with errors that name the offending key."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from kdistill.errors import ConfigError


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, recursively; unknown keys and wrong types raise ConfigError."""
    where = path or "recipe"
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping of keys to values, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key '{join(path, unknown[0])}' in {where}; valid keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {name: coerce(hints[name], value, join(path, name)) for name, value in data.items()}
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"invalid {where}: {error}") from error


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def coerce(annotation: Any, value: Any, path: str) -> Any:
    """Check ``value`` against a type annotation (dataclass, int/float/str/bool, list, dict, Optional)."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
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
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' must be a list, got {value!r}")
        (item_type,) = typing.get_args(annotation) or (Any,)
        return [coerce(item_type, item, f"{path}[{i}]") for i, item in enumerate(value)]
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


def to_dict(config: Any) -> Any:
    """Dataclass tree -> plain dicts/lists (for writing the resolved config)."""
    return dataclasses.asdict(config)
