"""Recipes: YAML -> validated schema -> flat keyword arguments."""

from kdistill.config.load import DEFAULT_RECIPE, builtin_recipes, load_recipe, parse_override, recipe_descriptions
from kdistill.config.schema import DataSection, DistillSection, FinetuneSection, ModelSection, Recipe, ReportSection
from kdistill.config.validate import from_dict, to_dict

__all__ = [
    "DEFAULT_RECIPE",
    "DataSection",
    "DistillSection",
    "FinetuneSection",
    "ModelSection",
    "Recipe",
    "ReportSection",
    "builtin_recipes",
    "from_dict",
    "load_recipe",
    "parse_override",
    "recipe_descriptions",
    "to_dict",
]
