"""A whole recipe - method and model arguments included - is refused before any file is written or anything trains."""

import logging

import pytest
import torch

from kdistill.cli import main
from kdistill.config import load_recipe
from kdistill.errors import ConfigError
from kdistill.experiment.check import check_recipe

FAST_DIGITS = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=1", "student.train.epochs=1",
    "teacher.model_args.hidden=[16]", "student.model_args.hidden=[8]", "teacher.model_args.max_norm=null",
    "report.latency_repeats=2", "report.latency_batch_sizes=[1]", "report.plots=false",
]


@pytest.fixture(autouse=True)
def quiet_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("override, expected", [
    ("distill.method_args.temperature=abc", "'distill.method_args.temperature' must be a number"),
    ("distill.method_args.temprature=4", "unknown key 'distill.method_args.temprature'; valid keys: temperature"),
    ("distill.method_args.temperature=-1", "'distill.method_args.temperature' must be > 0, got -1.0"),
    ("distill.method_args.temperature=.inf", "'distill.method_args.temperature' must be a finite number"),
    ("distill.method_args.ce_weight=-1", "'distill.method_args.ce_weight' must be >= 0, got -1.0"),
    ("distill.method_args.soft_loss=l2", "'distill.method_args.soft_loss' must be one of kl, soft_ce, mse"),
    ("student.model=nope", "unknown model 'nope'; choose one of:"),
    ("student.model_args.num_classes=9", "'student.model_args.num_classes' is set by kdistill from the dataset"),
    ("student.model_args.hidden=[a]", "'student.model_args.hidden[0]' must be an integer"),
    ("student.model_args.widht=3", "unknown key 'student.model_args.widht'; valid keys: hidden, dropout"),
    ("teacher.model_args.dropout=yes", "'teacher.model_args.dropout' must be a number"),
    ("distill.method=nope", "unknown distillation method 'nope'"),
    ("student.train.lr=-0.1", "'student.train.lr' must be > 0"),
    ("student.train.optimizer=rmsprop", "'student.train.optimizer' must be one of sgd, adam, adamw"),
    ("threads=0", "'threads' must be >= 1"),
])
def test_bad_values_are_refused_by_name(override, expected):
    with pytest.raises(ConfigError) as error:
        check_recipe(load_recipe("quick", [override]))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_all_loss_weights_zero_is_refused():
    recipe = load_recipe("quick", ["distill.method_args.ce_weight=0", "distill.method_args.kd_weight=0"])
    with pytest.raises(ConfigError, match="every loss weight of method 'hinton' is 0"):
        check_recipe(recipe)


def test_checked_arguments_are_coerced():
    recipe = check_recipe(load_recipe("quick", ["distill.method_args.temperature=8"]))
    assert recipe.distill.method_args["temperature"] == 8.0 and isinstance(recipe.distill.method_args["temperature"],
                                                                          float)


@pytest.mark.parametrize("override, fragment", [
    ("distill.method_args.temprature=4", "temprature"),
    ("distill.method_args.ce_weight=-1", "ce_weight"),
    ("student.model_args.num_classes=9", "num_classes"),
    ("student.model=nope", "nope"),
    # only found by the dry run on real samples: a layer the student does not have
    ("distill.method=fitnets", "no_such_layer"),
])
def test_the_cli_refuses_before_writing_anything(tmp_path, capsys, override, fragment):
    run_dir = tmp_path / "run"
    extra = ["distill.method_args.layers=[[no_such_layer,layers.0]]"] if override == "distill.method=fitnets" else []
    status = main(["run", "quick", *FAST_DIGITS, override, *extra, "--run-dir", str(run_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("kdistill: error: ") and fragment in err[0], err
    assert not run_dir.exists()  # no folder, no config.yaml, no teacher stage


def test_a_model_that_cannot_take_the_inputs_is_refused_before_training(tmp_path, capsys):
    run_dir = tmp_path / "run"
    # four 2x2 poolings cannot fit an 8x8 digit: the dry run finds it, not the teacher's first step
    status = main(["run", "quick", *FAST_DIGITS, "student.model=cnn", "student.model_args={channels: [4, 4, 4, 4]}",
                   "--run-dir", str(run_dir)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "student.model=cnn" in err and "\n" not in err
    assert not run_dir.exists()


def test_switching_method_does_not_carry_the_recipe_weights_over(caplog, tmp_path):
    recipe_file = tmp_path / "at.yaml"
    recipe_file.write_text("distill: {method: at, method_args: {layers: uniform, feature_weight: 1000.0}}\n")
    with caplog.at_level(logging.WARNING, logger="kdistill"):
        recipe = load_recipe(str(recipe_file), ["distill.method=fitnets"])
    assert recipe.distill.method == "fitnets" and recipe.distill.method_args == {}
    assert "not carried over" in caplog.text
    kept = load_recipe(str(recipe_file), ["distill.method=fitnets", "distill.method_args.feature_weight=10"])
    assert kept.distill.method_args == {"feature_weight": 10}
    same = load_recipe(str(recipe_file), ["distill.method=at"])
    assert same.distill.method_args["feature_weight"] == 1000.0


def test_every_shipped_recipe_passes_the_whole_check():
    from kdistill.config import builtin_recipes

    for name in builtin_recipes():
        check_recipe(load_recipe(name))


@pytest.mark.parametrize("override, expected", [
    ("student.augment={flp: true}", "unknown key 'student.augment.flp'"),
    ("student.augment={jitter: 2}", "set student.jitter, not student.augment.jitter"),
    ("teacher.augment={mix: mixup}", "teacher.augment.mix: mixup/cutmix"),
    ("student.augment={crop_fill: mirror}", "crop_fill must be one of"),
])
def test_augmentation_options_are_checked(override, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        check_recipe(load_recipe("quick", [override]))


def test_crop_and_flip_augment_the_student_reproducibly():
    from kdistill.experiment.splits import prepare_data

    recipe = check_recipe(load_recipe("quick", [*FAST_DIGITS, "student.augment={crop_padding: 2, flip: true}"]))
    data = prepare_data(recipe.data, recipe.seed)
    batches = []
    for _ in range(2):
        loader = data.train_loader(16, 0, 3, augment=recipe.student.augment)
        loader.set_epoch(1)
        batches.append(next(iter(loader)))
    first, again = batches
    assert torch.equal(first["inputs"], again["inputs"]) and torch.equal(first["index"], again["index"])
    plain = data.train_images[first["index"]]
    assert not torch.equal(first["inputs"], plain)  # some samples are cropped or flipped
    assert first["flip"].any() and (first["crop"] != 2).any()


@pytest.mark.parametrize("overrides, expected", [
    (["student.warp={rotation: 10}", "distill.cache.enabled=true"], "move the warp to distill.cache.warp"),
    (["teacher.warp={elastic: 1.0}", "teacher.augment={flip: true}"], "teacher.warp works on the in-memory"),
    (["teacher.warp={scale: 1.5}"], "warp.scale must be < 1"),
])
def test_training_warps_are_checked(overrides, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        check_recipe(load_recipe("quick", overrides))


def test_a_teacher_warp_trains_on_warped_images_and_enters_only_the_teacher_keys(tmp_path):
    import json

    torch.set_num_threads(1)
    assert main(["run", "quick", *FAST_DIGITS, "teacher.warp={rotation: 10, elastic: 1.0}",
                 "--run-dir", str(tmp_path)]) == 0
    stages = json.loads((tmp_path / "fingerprint.json").read_text())["stages"]
    assert stages["teacher"]["teacher.warp.rotation"] == 10
    assert not any("warp" in key for key in stages["baseline"])
    plain = tmp_path.parent / "plain"
    assert main(["run", "quick", *FAST_DIGITS, "--run-dir", str(plain)]) == 0
    assert not any("warp" in key for key in json.loads((plain / "fingerprint.json").read_text())["stages"]["teacher"])


def test_augment_and_warp_change_the_stage_keys_only_when_set():
    """A stage trained with other augmentation must not be reused: before the fix, student.augment was not a key."""
    from kdistill.experiment.fingerprint import stage_keys

    plain = stage_keys(check_recipe(load_recipe("quick")))
    flipped = stage_keys(check_recipe(load_recipe("quick", ["student.augment={flip: true}"])))
    warped = stage_keys(check_recipe(load_recipe("quick", ["teacher.warp={rotation: 5}"])))
    assert flipped["baseline"]["student.augment.flip"] is True and flipped["teacher"] == plain["teacher"]
    assert warped["teacher"]["teacher.warp.rotation"] == 5 and warped["baseline"] == plain["baseline"]
    assert not any("augment" in key or "warp" in key for keys in plain.values() for key in keys)


def test_int8_cache_values_change_the_distilled_stage_keys_and_fp16_keeps_the_older_keys():
    from kdistill.experiment.fingerprint import stage_keys

    cached = ["distill.cache.enabled=true", "distill.cache.format=topk"]
    fp16 = stage_keys(load_recipe("quick", cached))["distilled"]
    int8 = stage_keys(load_recipe("quick", [*cached, "distill.cache.topk_values=int8"]))["distilled"]
    assert "distill.cache.topk_values" not in fp16 and int8["distill.cache.topk_values"] == "int8"
