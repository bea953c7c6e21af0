"""Find, parse (safely), override and validate recipes."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kdistill.config.schema import DistillSection, Recipe
from kdistill.config.validate import from_dict
from kdistill.errors import ConfigError

DEFAULT_RECIPE = "quick"

log = logging.getLogger("kdistill")


def builtin_recipes() -> dict[str, Path]:
    """Shipped recipes by name (file stem)."""
    folder = resources.files("kdistill") / "recipes"
    return {Path(str(entry)).stem: Path(str(entry)) for entry in folder.iterdir() if str(entry).endswith(".yaml")}


def recipe_descriptions() -> dict[str, str]:
    return {name: read_yaml(path).get("description", "") for name, path in sorted(builtin_recipes().items())}


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())  # safe_load: a recipe can never construct Python objects
    except yaml.YAMLError as error:
        raise ConfigError(f"cannot parse {path}: {str(error).splitlines()[0]}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a mapping of keys to values")
    return data


def resolve_recipe_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise ConfigError(f"recipe file {path} does not exist")
        if not path.is_file():  # was a raw IsADirectoryError
            raise ConfigError(f"recipe file {path} is a folder, not a YAML file; pass the recipe file inside it")
        return path
    recipes = builtin_recipes()
    # a built-in name wins over a same-named folder (./quick); a folder that is no recipe name gets a hint
    if name_or_path not in recipes and path.is_dir():
        hint = (f"continue that run with `kdistill run --resume {path}`" if (path / "config.yaml").is_file()
                else "pass a recipe name or a .yaml file")
        raise ConfigError(f"'{name_or_path}' is a folder, not a recipe; {hint}")
    if name_or_path not in recipes:
        raise ConfigError(
            f"unknown recipe '{name_or_path}'; built-in recipes: {', '.join(sorted(recipes))} "
            "(or pass a path to a .yaml file; `kdistill recipes` lists them)"
        )
    return recipes[name_or_path]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``teacher.train.epochs=5`` -> (["teacher", "train", "epochs"], 5). Values are parsed as YAML scalars/lists."""
    key, sep, raw_value = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"bad override '{text}': write key=value, e.g. teacher.train.epochs=5")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"bad override '{text}': cannot parse the value ({str(error).splitlines()[0]})") from error
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot override '{'.'.join(keys)}': '{'.'.join(keys[:depth + 1])}' is not a section")
        node = child
    node[keys[-1]] = value


def load_recipe_dict(name_or_path: str = DEFAULT_RECIPE, overrides: list[str] | None = None) -> dict[str, Any]:
    path = resolve_recipe_path(name_or_path)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    parsed = [parse_override(text) for text in overrides or []]
    drop_other_methods_args(data, parsed)
    for keys, value in parsed:
        apply_override(data, keys, value)
    return data


def drop_other_methods_args(data: dict[str, Any], overrides: list[tuple[list[str], Any]]) -> None:
    """A recipe's ``distill.method_args`` belong to the method written beside them: when an override picks another
    method, they are dropped (one method's loss weights mean nothing to another: AT's feature_weight 1000 makes
    FitNets diverge), and the new method starts from its own defaults plus any ``distill.method_args.*`` overrides."""
    distill = data.get("distill")
    if not isinstance(distill, dict) or not distill.get("method_args"):
        return
    written_for = distill.get("method", DistillSection.method)
    chosen = [value for keys, value in overrides if keys == ["distill", "method"]]
    if chosen and chosen[-1] != written_for:
        dropped = distill.pop("method_args")
        log.warning("distill.method=%s replaces the recipe's %s: its method_args (%s) are not carried over; %s "
                    "starts from its own defaults (`kdistill methods %s`)", chosen[-1], written_for,
                    ", ".join(dropped), chosen[-1], chosen[-1])


def load_recipe(name_or_path: str = DEFAULT_RECIPE, overrides: list[str] | None = None) -> Recipe:
    """Read a built-in recipe (by name) or a YAML file, apply ``key=value`` overrides, validate."""
    return from_dict(Recipe, load_recipe_dict(name_or_path, overrides))
