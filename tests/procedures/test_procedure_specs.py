"""Procedure specs: every shipped spec validates; overrides apply; bad keys are refused by name; a spec runs."""

import json

import pytest

from kdistill.errors import ConfigError
from kdistill.procedures.cli import add_procedure_commands, run_procedure_command
from kdistill.procedures.spec import builtin_specs, load_spec, run_spec


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_shipped_spec_validates(name):
    spec = load_spec(name)
    assert spec["description"] and spec["procedure"]


def test_omitted_class_spec_takes_any_class():
    assert load_spec("omitted-class-mnist", ["args.omitted=[7]"])["args"]["omitted"] == [7]


def test_unknown_keys_and_arguments_are_named(tmp_path):
    with pytest.raises(ConfigError, match="bogus"):
        load_spec("omitted-class-mnist", ["args.bogus=1"])
    with pytest.raises(ConfigError, match="colour"):
        load_spec("omitted-class-mnist", ["colour=1"])
    with pytest.raises(ConfigError, match="no procedure spec"):
        load_spec("nope")


def test_a_spec_runs_through_the_cli_and_writes_its_result(tmp_path):
    import argparse

    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        "description: tiny\nprocedure: limited-data\ndata: {dataset: digits, val_size: 200}\n"
        "args:\n  fraction: 0.1\n  teacher_model: {model: mlp, model_args: {hidden: [16]}}\n"
        "  student_model: {model: mlp, model_args: {hidden: [16]}}\n"
        "  train: {epochs: 1, batch_size: 64, optimizer: adam, lr: 0.01}\n")
    parser = argparse.ArgumentParser()
    add_procedure_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["procedure", "run", str(spec), "seed=1", "--out", str(tmp_path / "out")])
    assert run_procedure_command(args) == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["subset_size"] == round(0.1 * (1437 - 200))
    assert (tmp_path / "out" / "procedure.yaml").exists()
    assert run_spec(load_spec(str(spec)), tmp_path / "again")["fraction"] == 0.1
