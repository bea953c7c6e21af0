"""Building the CLI parser imports no heavy library, so `kdistill --help` and the listings answer at once.

The parsers of ``data``, ``procedure`` and ``tabular`` read their registries lazily; these tests check they still
offer and enforce exactly the registered names.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kdistill
from kdistill.cli import build_parser
from kdistill.cli_parsers import DATA_DIR_ENV, add_tabular_commands, builtin_spec_names

HEAVY = ("torch", "sklearn", "pandas", "lightgbm")
SRC = str(Path(kdistill.__file__).parents[1])


def heavy_modules_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter and list the heavy libraries it imported."""
    probe = f"import sys\n{code}\nprint('heavy:', *[m for m in {HEAVY!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return done.stdout.splitlines()[-1].split()[1:]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["recipes"], ["tabular", "--help"],
                                  ["procedure", "run", "--help"], ["data", "--help"], ["methods"], ["models"],
                                  ["procedure", "list"], ["data", "list"]])
def test_help_and_recipes_import_no_heavy_library(argv):
    code = (f"from kdistill.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass")
    assert heavy_modules_after(code) == []


def test_python_m_kdistill_help_imports_no_heavy_library():
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kdistill", "--help"], capture_output=True,
                          text=True, env=env, check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert "usage: kdistill" in done.stdout
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def parse(argv):
    return build_parser().parse_args(argv)


def test_data_fetch_offers_and_enforces_the_registered_datasets(capsys):
    from kdistill.data import DATASETS

    for name in DATASETS.names():
        assert parse(["data", "fetch", name]).name == name
    with pytest.raises(SystemExit) as exit_info:
        parse(["data", "fetch", "cifar10"])
    assert exit_info.value.code == 2 and "invalid choice: 'cifar10'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["data", "fetch", "--help"])
    assert ", ".join(DATASETS.names()) in capsys.readouterr().out


def test_data_dir_variable_and_spec_names_match_their_sources():
    from kdistill.data.paths import DATA_DIR_ENV as source_variable
    from kdistill.procedures.spec import builtin_specs

    assert DATA_DIR_ENV == source_variable
    assert builtin_spec_names() == sorted(builtin_specs())


def test_tabular_fit_offers_and_enforces_the_registered_names(capsys):
    pytest.importorskip("sklearn")
    from kdistill.augment.tabular import AUGMENTERS
    from kdistill.tabular import STUDENTS, TEACHERS

    parser = argparse.ArgumentParser(prog="kdistill")
    add_tabular_commands(parser.add_subparsers(dest="command"))
    base = ["tabular", "fit", "--data", "t.csv", "--target", "y"]
    assert parser.parse_args([*base, "--student", STUDENTS.names()[0], "--augmentation", "none"]).augmentation == "none"
    for bad in (["--student", "nope"], ["--augmentation", "nope"]):
        with pytest.raises(SystemExit):
            parser.parse_args([*base, *bad])
        assert "invalid choice: 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["tabular", "fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # help text is wrapped
    for names in (TEACHERS.names(), STUDENTS.names(), AUGMENTERS.names()):
        assert ", ".join(names) in out


@pytest.mark.parametrize("kind, registry", [("methods", "kdistill.strategies:STRATEGIES"),
                                            ("models", "kdistill.models:MODELS"),
                                            ("datasets", "kdistill.data.registry:DATASETS"),
                                            ("procedures", "kdistill.procedures:PROCEDURES")])
def test_listings_read_from_the_files_agree_with_the_imported_registries(kind, registry):
    import importlib

    from kdistill.listing import listed

    module, name = registry.split(":")
    assert listed(kind) == getattr(importlib.import_module(module), name).describe()
