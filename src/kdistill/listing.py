"""Registered names and their one-line descriptions, read from the registering source files - without importing them.

Listing commands (``kdistill methods``, ``models``, ``data list``, ``procedure list``) would otherwise import every
component, and with it torch: seconds before one line is printed. The registrations themselves stay the single
source of truth - this module reads the decorator calls (``@register_method("hinton")``, ``@MODELS.register("mlp")``)
and the docstrings with :mod:`ast`, and a test checks that it agrees with the imported registries. Components from
plugins (``--plugin``, the ``kdistill.plugins`` entry points) only exist once imported: with any of those, the
commands import the registries instead (see :func:`needs_import`).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

# kind -> (package whose modules register it, decorator spellings that register one)
REGISTRATIONS = {
    "methods": ("kdistill.strategies", ("register_method",)),
    "models": ("kdistill.models", ("MODELS.register", "register_model")),
    "datasets": ("kdistill.data", ("DATASETS.register", "register_dataset")),
    "procedures": ("kdistill.procedures", ("PROCEDURES.register",)),
}


def needs_import(plugins: list[str] | None, registry_module: str | None = None) -> bool:
    """True when the imported registry must answer: registrations outside kdistill's own files (plugin files,
    installed plugin packages) or made at run time in this process (the registry module is already imported, so
    asking it costs nothing)."""
    from kdistill.plugins import ENTRY_POINT_GROUP

    if registry_module is not None and registry_module in sys.modules:
        return True
    return bool(plugins) or bool(list(entry_points(group=ENTRY_POINT_GROUP)))


def listed(kind: str) -> dict[str, str]:
    """{name: first docstring line} of every ``kind`` registered in kdistill's own files, sorted by name."""
    package, spellings = REGISTRATIONS[kind]
    spec = importlib.util.find_spec(package)  # imports the parent package only (kdistill: lazy, light)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(package)
    found: dict[str, str] = {}
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.py")):
            found.update(registrations_in(path, spellings))
    return dict(sorted(found.items()))


def registrations_in(path: Path, spellings: tuple[str, ...]) -> dict[str, str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        for decorator in node.decorator_list:
            if (isinstance(decorator, ast.Call) and dotted(decorator.func) in spellings and decorator.args
                    and isinstance(decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value, str)):
                doc = (ast.get_docstring(node) or "").strip()
                found[decorator.args[0].value] = doc.splitlines()[0] if doc else ""
    return found


def dotted(node: ast.expr) -> str:
    """``MODELS.register`` for an attribute chain, ``register_method`` for a name, "" otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""
