"""Search spaces: every method's declaration is well formed and searchable, and malformed ones are refused."""

import pytest

from kdistill.config import load_recipe
from kdistill.errors import ConfigError
from kdistill.strategies import STRATEGIES, method_spec, register_method
from kdistill.strategies.registry import STRATEGIES as REGISTRY
from kdistill.tuning.space import (
    apply_params,
    default_space,
    parse_dimension,
    recipe_values,
    resolve_space,
)

SEARCHED = [name for name in STRATEGIES.names() if method_spec(name).search_space]


def test_the_methods_that_tune_the_distillation_declare_a_space():
    # every distillation method (all but plain supervised training) can be tuned out of the box
    assert set(SEARCHED) == set(STRATEGIES.names()) - {"supervised"}


@pytest.mark.parametrize("name", SEARCHED)
def test_every_declared_value_is_accepted_by_the_method(name):
    spec = method_spec(name)
    for argument, dimension in spec.search_space.items():
        kind = dimension[0]
        assert kind in ("log", "uniform", "int", "choice")
        values = list(dimension[1]) if kind == "choice" else [dimension[1], (dimension[1] + dimension[2]) / 2,
                                                              dimension[2]]
        if kind in ("log", "uniform", "int"):
            assert dimension[1] < dimension[2] and (kind != "log" or dimension[1] > 0)
        for value in values:
            checked = spec.validate({argument: value})  # type and range, from the builder's signature
            assert checked[argument] == pytest.approx(value)


@pytest.mark.parametrize("name", [n for n in SEARCHED if method_spec(n).uses_teacher])
def test_default_space_is_recipe_keys_and_applies_to_a_recipe(name):
    recipe = load_recipe("quick", [f"distill.method={name}"])
    space = default_space(recipe)
    assert space["student.train.lr"] == ("log", recipe.student.train.lr / 5, recipe.student.train.lr * 5)
    assert {key.rsplit(".", 1)[-1] for key in space} == {*method_spec(name).search_space, "lr"}
    for key, dimension in space.items():
        value = dimension[1] if dimension[0] != "choice" else dimension[1][0]
        tuned = apply_params(recipe, {key: value})
        section, _, argument = key.rpartition(".")
        holder = tuned.distill.method_args if section == "distill.method_args" else vars(tuned.student.train)
        assert holder[argument] == value


@pytest.mark.parametrize("declaration, problem", [
    ({"temperature": ("log", 0.0, 4.0)}, "low > 0"),
    ({"temperature": ("uniform", 4.0, 1.0)}, "low < high"),
    ({"ce_weight": ("uniform", -1.0, 1.0)}, ">= 0"),  # outside the argument's declared range
    ({"temperature": ("normal", 1.0, 4.0)}, "is not"),
    ({"temperature": ("choice", [])}, "non-empty"),
])
def test_register_method_refuses_a_malformed_search_space(declaration, problem):
    from kdistill.arguments import Temperature, Weight

    with pytest.raises(ValueError, match=problem):
        @register_method("malformed-space", search_space=declaration)
        def malformed(teacher=None, temperature: Temperature = 4.0, ce_weight: Weight = 0.5):
            """Never registered."""
    assert "malformed-space" not in REGISTRY.names()


def test_search_and_space_options_restrict_and_extend():
    recipe = load_recipe("quick")
    space = resolve_space(recipe, ["temperature", "lr"], {"student.train.weight_decay": ("log", 1e-5, 1e-3)})
    assert list(space) == ["distill.method_args.temperature", "student.train.lr", "student.train.weight_decay"]
    assert parse_dimension("distill.method_args.soft_loss=choice:kl,mse") == \
        ("distill.method_args.soft_loss", ("choice", ["kl", "mse"]))
    assert parse_dimension("student.train.epochs=int:2:6") == ("student.train.epochs", ("int", 2, 6))


@pytest.mark.parametrize("only, extra, message", [
    (["beta"], None, "not in the search space of method 'hinton'"),
    (None, {"teacher.train.lr": ("log", 0.01, 0.1)}, "teacher is trained once"),
    (None, {"distill.method_args.temperature": ("log", -1.0, 4.0)}, "low > 0"),
    (None, {"distill.method_args.kd_weight": ("uniform", -1.0, 1.0)}, "must be >= 0"),
    (None, {"distill.method_args.nonsense": ("uniform", 0.0, 1.0)}, "unknown key"),
])
def test_bad_spaces_are_one_line_errors(only, extra, message):
    with pytest.raises(ConfigError, match=message) as error:
        resolve_space(load_recipe("quick"), only, extra)
    assert "\n" not in str(error.value)


def test_bad_space_text_names_the_syntax():
    with pytest.raises(ConfigError, match="KEY=log:LOW:HIGH"):
        parse_dimension("distill.method_args.temperature=log:1")


def test_recipe_values_are_the_first_trial_when_inside_the_space():
    recipe = load_recipe("quick", ["distill.method_args.temperature=40"])  # outside hinton's (1, 20)
    values = recipe_values(recipe, default_space(recipe))
    assert "distill.method_args.temperature" not in values
    assert values["distill.method_args.kd_weight"] == 0.9 and values["student.train.lr"] == 0.05
