"""Package namespaces whose names are imported on first use (PEP 562).

``import kdistill`` - and every light CLI command - must not pay for torch until a name that needs it is used. A
package lists ``{public name: defining module}`` and takes its ``__getattr__`` / ``__dir__`` from here::

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str], submodules: bool = False,
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` importing ``exports[name]`` on first use (and caching it in the package), and ``__dir__``.
    With ``submodules``, other names fall back to importing ``package.name`` (``kdistill.models.MODELS`` worked when
    the package imported everything eagerly)."""

    def getattr_(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif submodules:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return getattr_, dir_
