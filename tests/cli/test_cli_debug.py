"""`--debug` turns a one-line KdistillError back into its traceback (also in `--nproc` worker processes); genuine
bugs (any other exception) always keep their traceback, so they can be reported."""

import logging
import os

import pytest

import kdistill.commands
from kdistill.cli import DEBUG_ENV, main
from kdistill.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch):
    """main() configures logging; leave the root and the "kdistill" logger as they were."""
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    root, package = logging.getLogger(), logging.getLogger("kdistill")
    handlers, level, package_level = list(root.handlers), root.level, package.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    package.setLevel(package_level)


def raising(error):
    def dispatch(args):
        raise error

    return dispatch


def test_a_kdistill_error_is_one_line_and_status_2(monkeypatch, capsys):
    monkeypatch.setattr(kdistill.commands, "dispatch", raising(DataError("no data; fetch it")))
    assert main(["recipes"]) == 2
    assert capsys.readouterr().err == "kdistill: error: no data; fetch it\n"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_reraises_the_kdistill_error_with_its_traceback(monkeypatch, how):
    monkeypatch.setattr(kdistill.commands, "dispatch", raising(ConfigError("bad recipe")))
    argv = ["--debug", "recipes"] if how == "flag" else ["recipes"]
    if how == "environment":
        monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ConfigError, match="bad recipe"):
        main(argv)


def test_real_command_error_is_reraised_under_debug(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        main(["--debug", "run", "nope", "--output-dir", str(tmp_path)])


def test_debug_reaches_nproc_workers_through_the_environment(monkeypatch):
    seen = []
    monkeypatch.setattr(kdistill.commands, "dispatch", lambda args: seen.append(os.environ.get(DEBUG_ENV)) or 0)
    assert main(["--debug", "recipes"]) == 0
    assert main(["recipes"]) == 0
    assert seen == ["1", None] and DEBUG_ENV not in os.environ  # set for the command only


def test_debug_logs_come_from_kdistill_only(monkeypatch):
    monkeypatch.setattr(kdistill.commands, "dispatch", lambda args: 0)
    logging.getLogger().handlers.clear()  # as in a fresh process, so basicConfig applies (the fixture restores)
    main(["--debug", "recipes"])
    assert logging.getLogger("kdistill").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("matplotlib").getEffectiveLevel() >= logging.INFO


def test_an_unexpected_exception_keeps_its_traceback(monkeypatch):
    # a bug, not bad input: the traceback is what a bug report needs, so the CLI does not shorten it
    monkeypatch.setattr(kdistill.commands, "dispatch", raising(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        main(["recipes"])
