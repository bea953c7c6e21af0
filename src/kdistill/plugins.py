"""Plugins: the user's own models, datasets and methods, registered with the decorators the built-ins use.

Two ways in, both explicit - a recipe alone never names an import path:

- a file given on the command line, ``kdistill run --plugin my_components.py my_recipe.yaml``;
- an installed package that declares an entry point in the ``kdistill.plugins`` group
  (``[project.entry-points."kdistill.plugins"] mine = "my_package.kdistill_components"``), loaded when a command runs.

A plugin module registers with ``kdistill.register_model``, ``kdistill.register_method`` and
``kdistill.register_dataset``::

    import kdistill
    from torch import nn

    @kdistill.register_model("tiny-mlp")
    def tiny_mlp(input_shape, num_classes, hidden: kdistill.PositiveInt = 64):
        ...
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from kdistill.errors import ConfigError, KdistillError

log = logging.getLogger("kdistill")

ENTRY_POINT_GROUP = "kdistill.plugins"
_loaded: dict[str, ModuleType] = {}  # plugin key (resolved path or entry point) -> module: each loads once


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a Python file so that its decorators register its components; a file loads once per process."""
    path = Path(path).expanduser().resolve()
    key = str(path)
    if key in _loaded:
        return _loaded[key]
    if not path.is_file() or path.suffix != ".py":
        raise ConfigError(f"plugin {path} is not a .py file; pass the Python file that registers your components")
    name = f"kdistill_plugin_{path.stem}_{len(_loaded)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import plugin {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except KdistillError:
        raise
    except Exception as error:
        del sys.modules[name]
        raise ConfigError(f"plugin {path} failed to import: {type(error).__name__}: {error}; fix the file (rerun "
                          "with --debug for the traceback)") from error
    _loaded[key] = module
    log.debug("plugin loaded: %s", path)
    return module


def load_entry_point_plugins() -> list[str]:
    """Import every installed package's ``kdistill.plugins`` entry point; returns their names."""
    names = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry-point:{entry.value}"
        if key in _loaded:
            continue
        try:
            loaded = entry.load()
        except Exception as error:
            raise ConfigError(f"installed plugin '{entry.name}' ({entry.value}) failed to import: "
                              f"{type(error).__name__}: {error}; fix or uninstall that package") from error
        _loaded[key] = loaded if isinstance(loaded, ModuleType) else importlib.import_module(entry.module)
        names.append(entry.name)
    return names


def load_plugins(files: list[str | Path] | None = None) -> None:
    """Entry-point plugins, then the given files (a later registration of the same name is an error)."""
    load_entry_point_plugins()
    for path in files or []:
        load_plugin_file(path)
