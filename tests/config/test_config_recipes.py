"""Every shipped recipe validates and builds; bad keys, types, overrides and unsafe YAML are refused clearly."""

import pytest
import torch
import yaml

from kdistill.config import Recipe, builtin_recipes, from_dict, load_recipe, parse_override, to_dict
from kdistill.config.load import read_yaml
from kdistill.data import DATASETS
from kdistill.errors import ConfigError
from kdistill.experiment.models import check_class_counts
from kdistill.models import build_model
from kdistill.sources import DATA_SOURCES
from kdistill.strategies import build_strategy
from kdistill.teachers import FrozenTeacher

# (input shape, classes) of each registered dataset, so recipe checks need no download.
DATASET_SHAPES = {"mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10), "digits": ((1, 8, 8), 10),
                  "cifar10": ((3, 32, 32), 10)}


# recipes on image data; text recipes (token-id inputs) are checked in tests/text/test_text_pipeline.py, language
# models in tests/lm/test_lm_pipeline.py
IMAGE_RECIPES = sorted(name for name in builtin_recipes() if load_recipe(name).data.dataset not in ("text", "lm-text"))


def test_shipped_recipes_exist():
    assert {"quick", "hinton-mnist"} <= set(builtin_recipes())


@pytest.mark.parametrize("name", IMAGE_RECIPES)
def test_every_shipped_recipe_validates_and_builds(name):
    recipe = load_recipe(name)
    assert recipe.name == name and recipe.description
    assert recipe.data.dataset in DATASETS or recipe.data.dataset in DATA_SOURCES
    assert recipe.data.dataset in DATASET_SHAPES, f"add {recipe.data.dataset}'s shape to DATASET_SHAPES"
    input_shape, num_classes = DATASET_SHAPES[recipe.data.dataset]
    teacher = build_model(recipe.teacher.model, input_shape, num_classes, **recipe.teacher.model_args)
    student = build_model(recipe.student.model, input_shape, num_classes, **recipe.student.model_args)
    assert check_class_counts(teacher, student, input_shape) == num_classes
    example_batch = {"inputs": torch.rand(4, *input_shape), "labels": torch.arange(4), "index": torch.arange(4)}
    strategy = build_strategy(recipe.distill.method, teacher=FrozenTeacher(teacher),
                              context={"student": student, "num_samples": 100, "example_batch": example_batch},
                              **recipe.distill.method_args)
    assert callable(strategy)
    # the resolved config written to a run directory reads back to the same recipe
    assert from_dict(Recipe, yaml.safe_load(yaml.safe_dump(to_dict(recipe)))) == recipe


def test_hinton_recipe_matches_the_paper_setting():
    recipe = load_recipe("hinton-mnist")
    assert recipe.teacher.model_args["hidden"] == [1200, 1200]
    assert recipe.student.model_args["hidden"] == [800, 800]
    assert recipe.distill.method_args["temperature"] == 20.0
    assert recipe.teacher.jitter == 2 and recipe.student.jitter == 0


def test_unknown_top_level_key_names_it_and_lists_valid_keys():
    with pytest.raises(ConfigError) as error:
        from_dict(Recipe, {"sead": 1})
    message = str(error.value)
    assert "'sead'" in message and "valid keys" in message
    for key in ("seed", "teacher", "student", "distill"):
        assert key in message


def test_unknown_nested_key_names_its_full_path():
    with pytest.raises(ConfigError) as error:
        from_dict(Recipe, {"teacher": {"train": {"epoch": 3}}})
    message = str(error.value)
    assert "teacher.train.epoch" in message and "epochs" in message and "batch_size" in message


@pytest.mark.parametrize("data, key", [
    ({"seed": "zero"}, "seed"),
    ({"seed": True}, "seed"),
    ({"teacher": {"train": {"lr": "fast"}}}, "teacher.train.lr"),
    ({"student": {"jitter": 1.5}}, "student.jitter"),
    ({"report": {"latency_batch_sizes": 8}}, "report.latency_batch_sizes"),
    ({"report": {"latency_batch_sizes": [1, "x"]}}, "report.latency_batch_sizes[1]"),
    ({"report": {"plots": "yes"}}, "report.plots"),
    ({"teacher": {"model_args": [1, 2]}}, "teacher.model_args"),
    ({"data": 5}, "data"),
])
def test_wrong_type_names_the_key(data, key):
    with pytest.raises(ConfigError) as error:
        from_dict(Recipe, data)
    assert f"'{key}'" in str(error.value)


def test_numbers_and_optionals_are_coerced():
    recipe = from_dict(Recipe, {"teacher": {"train": {"lr": 1, "grad_clip": None}, "weights": None},
                                "data": {"train_limit": 100}})
    assert recipe.teacher.train.lr == 1.0 and isinstance(recipe.teacher.train.lr, float)
    assert recipe.teacher.train.grad_clip is None and recipe.data.train_limit == 100


def test_invalid_training_values_are_config_errors():
    with pytest.raises(ConfigError, match="optimizer"):
        from_dict(Recipe, {"student": {"train": {"optimizer": "lbfgs"}}})
    with pytest.raises(ConfigError, match="epochs"):
        from_dict(Recipe, {"student": {"train": {"epochs": 0}}})


@pytest.mark.parametrize("text, keys, value", [
    ("a.b=3", ["a", "b"], 3),
    ("x=[1,2]", ["x"], [1, 2]),
    ("lr=0.5", ["lr"], 0.5),
    ("name=hello", ["name"], "hello"),
    ("flag=true", ["flag"], True),
    ("weights=null", ["weights"], None),
    ("weights=", ["weights"], None),
    ("args={a: 1}", ["args"], {"a": 1}),
])
def test_parse_override(text, keys, value):
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize("text", ["foo", "=3", "a..b=1", "a.=1", "x=[1,", "x=!!python/object/apply:os.system [ls]"])
def test_bad_override_is_a_config_error(text):
    with pytest.raises(ConfigError, match="bad override"):
        parse_override(text)


def test_overrides_apply_to_a_recipe():
    recipe = load_recipe("quick", ["teacher.train.epochs=3", "student.model_args.hidden=[16]", "seed=5",
                                   "distill.method_args.temperature=8"])
    assert recipe.teacher.train.epochs == 3 and recipe.student.model_args == {"hidden": [16]}
    assert recipe.seed == 5 and recipe.distill.method_args["temperature"] == 8
    assert recipe.distill.method_args["kd_weight"] == 0.9  # siblings are kept


def test_override_of_unknown_key_or_into_a_value_fails_clearly():
    with pytest.raises(ConfigError, match="teacher.trian"):
        load_recipe("quick", ["teacher.trian.epochs=3"])
    with pytest.raises(ConfigError, match="not a section"):
        load_recipe("quick", ["seed.value=3"])


def test_unknown_recipe_lists_the_shipped_ones():
    with pytest.raises(ConfigError) as error:
        load_recipe("nope")
    assert all(name in str(error.value) for name in builtin_recipes())


def test_recipe_from_a_yaml_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("seed: 3\nstudent: {model: mlp, model_args: {hidden: [8]}}\n")
    recipe = load_recipe(str(path))
    assert recipe.name == "mine" and recipe.seed == 3 and recipe.student.model_args == {"hidden": [8]}
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/object/new:os.system"])
def test_yaml_python_tags_are_refused_never_executed(tmp_path, tag):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(f'seed: 0\ndescription: {tag} ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="cannot parse"):
        load_recipe(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "key: [unclosed\n"])
def test_yaml_that_is_not_a_mapping_or_not_yaml_is_a_config_error(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        read_yaml(path)
