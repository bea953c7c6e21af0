"""features-fashion invites `distill.method=<any feature method>`: switching must give that method its OWN defaults.

Issue 11: the recipe pinned AT's arguments (layers: uniform, feature_weight: 1000), which then carried over into the
method switched to, where the same name means another scale: FitNets diverged, CRD reached 12 %, RKD 44 %.
"""

import inspect

import pytest

from kdistill.config import load_recipe
from kdistill.strategies import STRATEGIES
from kdistill.strategies import methods_where


@pytest.mark.parametrize("method", sorted(set(methods_where(reads_features=True)) | {"dkd"}))
def test_switching_the_method_of_features_fashion_keeps_that_methods_defaults(method):
    recipe = load_recipe("features-fashion", [f"distill.method={method}"])
    defaults = inspect.signature(STRATEGIES.get(method)).parameters
    for key, value in recipe.distill.method_args.items():
        assert key in defaults and value == defaults[key].default, (
            f"features-fashion pins {key}={value!r}, but {method}'s default is "
            f"{defaults[key].default if key in defaults else '(no such argument)'}; leave method_args to the method"
        )
