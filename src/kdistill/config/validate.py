"""Turn plain dicts (from YAML) into schema dataclasses, with errors that name the offending key."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from kdistill.errors import ConfigError
from kdistill.values import coerce, join


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
    hints = typing.get_type_hints(cls, include_extras=True)  # extras: Range / OneOf constraints
    values = {name: coerce(hints[name], value, join(path, name)) for name, value in data.items()}
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"invalid {where}: {error}") from error


def to_dict(config: Any) -> Any:
    """Dataclass tree -> plain dicts/lists (for writing the resolved config)."""
    return dataclasses.asdict(config)
