"""A tiny name -> builder registry.

Components (models, datasets, distillation strategies, ...) register themselves with a decorator, so adding one
touches only its own file, and tests parametrised over ``registry.names()`` cover it automatically.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from kdistill.errors import ConfigError


class Registry:
    """Maps names to builders (classes or functions). ``kind`` names the registry in error messages."""

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._builders:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._builders[name] = builder
            return builder

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._builders:
            raise ConfigError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())} (your own "
                              "ones: register them in a file and pass --plugin FILE.py)")
        return self._builders[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        """Build ``name`` with keyword arguments, rejecting unknown ones by name (configs are data, not code)."""
        builder = self.get(name)
        check_kwargs(builder, kwargs, f"{self.kind} '{name}'")
        return builder(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._builders)

    def describe(self) -> dict[str, str]:
        """First docstring line of every entry, for ``kdistill methods`` / ``recipes`` listings."""
        return {name: first_doc_line(self._builders[name]) for name in self.names()}

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def check_kwargs(builder: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """Raise a ConfigError naming any keyword ``builder`` does not accept, and listing those it does."""
    signature = inspect.signature(builder)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"{what} got unknown argument(s) {', '.join(unknown)}; valid: {', '.join(accepted)}")
