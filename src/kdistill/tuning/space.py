"""What a study searches: the method's declared space plus the student's learning rate, as recipe keys.

Each parameter is a dotted recipe key, so a trial's values apply to the recipe like ``key=value`` overrides and the
best ones are written back as a recipe::

    distill.method_args.temperature  ("log", 1.0, 20.0)   <- the method spec (next to its builder)
    distill.method_args.kd_weight    ("uniform", 0.0, 1.0)
    student.train.lr                 ("log", lr / 5, lr * 5)   <- around the recipe's own learning rate

Only the distilled stage's own settings (``distill.method_args.*``, ``student.train.*``) may be searched: the shared
teacher (trained once for the whole study) and the student's architecture stay fixed.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import yaml

from kdistill.config import Recipe, from_dict, to_dict
from kdistill.errors import ConfigError
from kdistill.strategies import method_spec
from kdistill.strategies.spec import SearchDimension, check_dimension

METHOD_PREFIX = "distill.method_args."
TRAIN_PREFIX = "student.train."
LR_FACTOR = 5.0  # the learning rate is searched within this factor of the recipe's, on a log scale

Space = dict[str, SearchDimension]


def default_space(recipe: Recipe) -> Space:
    """The method's declared dimensions (as recipe keys) and the student's learning rate."""
    declared = method_spec(recipe.distill.method).search_space
    lr = recipe.student.train.lr
    return {**{METHOD_PREFIX + name: tuple(dimension) for name, dimension in declared.items()},
            TRAIN_PREFIX + "lr": ("log", lr / LR_FACTOR, lr * LR_FACTOR)}


def parse_dimension(text: str) -> tuple[str, SearchDimension]:
    """``--space KEY=log:1:20`` / ``uniform:0:1`` / ``int:1:8`` / ``choice:kl,mse`` -> (key, dimension)."""
    key, sep, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    try:
        if not sep or not key or not rest:
            raise ValueError
        if kind == "choice":
            return key, ("choice", [yaml.safe_load(value) for value in rest.split(",")])
        low, high = rest.split(":")
        cast = int if kind == "int" else float
        return key, (kind, cast(low), cast(high))
    except (ValueError, yaml.YAMLError):
        raise ConfigError(f"bad --space '{text}': write KEY=log:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH or "
                          "choice:A,B,... (e.g. distill.method_args.temperature=log:1:20)") from None


def resolve_space(recipe: Recipe, only: list[str] | None = None, extra: Space | None = None) -> Space:
    """The study's space: the default one, restricted to ``only`` (recipe keys or their last part, e.g.
    ``temperature``, ``lr``) and extended or overridden by ``extra``; every dimension checked."""
    space = default_space(recipe)
    if only:
        chosen = {}
        for name in only:
            matches = [key for key in space if key == name or key.rsplit(".", 1)[-1] == name]
            if not matches:
                raise ConfigError(f"--search {name}: not in the search space of method '{recipe.distill.method}' "
                                  f"({', '.join(space)}); add it with --space {name}=log:LOW:HIGH")
            chosen.update({key: space[key] for key in matches})
        space = chosen
    space.update(extra or {})
    if not space:
        raise ConfigError(f"method '{recipe.distill.method}' declares no search space and none was given; pass "
                          "--space KEY=log:LOW:HIGH (e.g. student.train.lr=log:0.01:0.3)")
    for key, dimension in space.items():
        check_key(key)
        try:
            check_dimension(tuple(dimension), f"--space {key}")
        except ValueError as error:
            raise ConfigError(str(error)) from None
        for value in dimension_values(tuple(dimension)):  # the ends must make a valid recipe too
            apply_params(recipe, {key: value})
    return {key: tuple(dimension) for key, dimension in space.items()}


def check_key(key: str) -> None:
    if not key.startswith((METHOD_PREFIX, TRAIN_PREFIX)) or key.count(".") < 2:
        raise ConfigError(f"cannot search '{key}': a study searches the distilled stage's own settings, keys under "
                          f"{METHOD_PREFIX}* or {TRAIN_PREFIX}* (the teacher is trained once for all trials)")


def dimension_values(dimension: SearchDimension) -> list[Any]:
    return list(dimension[1]) if dimension[0] == "choice" else [dimension[1], dimension[2]]


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """One value per dimension from an Optuna trial (parameter names are the recipe keys)."""
    values = {}
    for key, dimension in space.items():
        kind = dimension[0]
        if kind == "choice":
            values[key] = trial.suggest_categorical(key, list(dimension[1]))
        elif kind == "int":
            values[key] = trial.suggest_int(key, dimension[1], dimension[2])
        else:
            values[key] = trial.suggest_float(key, dimension[1], dimension[2], log=kind == "log")
    return values


def apply_params(recipe: Recipe, params: dict[str, Any]) -> Recipe:
    """``recipe`` with each dotted key set to its value, checked like a ``key=value`` override (ConfigError)."""
    data = copy.deepcopy(to_dict(recipe))
    for key, value in params.items():
        node = data
        *sections, last = key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = value
    recipe = from_dict(Recipe, data)  # train settings: typed and ranged by TrainConfig
    method_spec(recipe.distill.method).validate(recipe.distill.method_args)  # method arguments: by the spec
    return recipe


def recipe_values(recipe: Recipe, space: Space) -> dict[str, Any]:
    """The recipe's own value of each searched key that lies inside its dimension (the study's first trial)."""
    data = to_dict(recipe)
    spec = method_spec(recipe.distill.method)
    values = {}
    for key, dimension in space.items():
        if key.startswith(METHOD_PREFIX):
            name = key[len(METHOD_PREFIX):]
            value = data["distill"]["method_args"].get(name, spec.defaults().get(name))
        else:
            value = data["student"]["train"].get(key[len(TRAIN_PREFIX):])
        if inside(value, dimension):
            values[key] = value
    return values


def inside(value: Any, dimension: SearchDimension) -> bool:
    if dimension[0] == "choice":
        return value in list(dimension[1])
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return dimension[1] <= value <= dimension[2] and (dimension[0] != "int" or float(value).is_integer())
