"""What ``kdistill tune`` does (its parser is ``kdistill.cli_parsers.add_tune_command``)."""

from __future__ import annotations

import argparse

from kdistill.errors import ConfigError


def run_tune_command(args: argparse.Namespace) -> int:
    from kdistill.config import DEFAULT_RECIPE
    from kdistill.tuning.driver import tune
    from kdistill.tuning.space import parse_dimension

    recipe, overrides = args.recipe, list(args.overrides)
    if recipe is not None and "=" in recipe:  # `kdistill tune seed=1`: an override, not a recipe
        overrides.insert(0, recipe)
        recipe = None
    if args.resume is not None and (recipe or overrides or args.study_dir):
        raise ConfigError("--resume reads the recipe from STUDY_DIR/recipe.yaml; drop the recipe, overrides and "
                          "--study-dir")
    space = dict(parse_dimension(text) for text in args.space or [])
    result = tune(recipe or DEFAULT_RECIPE, overrides, trials=args.trials,
                  study_dir=args.resume or args.study_dir, jobs=args.jobs, prune=args.prune, search=args.search,
                  space=space, resume=args.resume is not None, plugins=getattr(args, "plugins", None))
    counts = ", ".join(f"{count} {state.lower()}" for state, count in result.summary["counts"].items() if count)
    print(f"study {result.study_dir}: {counts}")
    print(f"best: trial {result.best_trial}, validation accuracy {100 * result.best_value:.2f}%")
    for key, value in result.best_params.items():
        print(f"  {key} = {value:.6g}" if isinstance(value, float) else f"  {key} = {value}")
    own = result.summary.get("recipe_values")
    if own is not None:
        print(f"the recipe's own values (trial {own['trial']}): {100 * own['value']:.2f}%")
    print(f"best recipe: {result.best_recipe}  (evaluate on the test set: kdistill run {result.best_recipe})")
    if result.summary.get("importance_plot"):
        print(f"importances: {result.study_dir / result.summary['importance_plot']}")
    print(f"every trial: {result.study_dir / 'summary.md'}")
    return 0
