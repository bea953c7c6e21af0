"""``kdistill.fit`` / ``distill`` log one line per epoch without any logging setup, once, and can be silenced."""

import logging
from contextlib import contextmanager

import pytest
import torch
from torch import nn

import kdistill

KDISTILL = logging.getLogger("kdistill")


@pytest.fixture
def unconfigured_logging(monkeypatch):
    """A script that never configured logging: no handlers and no levels (pytest's capture handlers come back after)."""
    monkeypatch.setattr(KDISTILL, "handlers", [])
    monkeypatch.setattr(KDISTILL, "level", logging.NOTSET)
    return unconfigured_root


@contextmanager
def unconfigured_root():
    # pytest adds its capture handlers to the root at the start of each test phase, so clear them in the test body
    root = logging.getLogger()
    handlers = root.handlers[:]
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = handlers


def batches():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 4, generator=generator), torch.randint(0, 3, (32,), generator=generator)
    return [(x[:16], y[:16]), (x[16:], y[16:])]


def model():
    torch.manual_seed(0)
    return nn.Linear(4, 3)


def epoch_lines(text):
    return [line for line in text.splitlines() if " epoch " in line]


def test_fit_logs_one_line_per_epoch_to_stderr_by_default(unconfigured_logging, capsys):
    with unconfigured_logging():
        kdistill.fit(model(), batches(), epochs=3, lr=0.1)
    lines = epoch_lines(capsys.readouterr().err)
    assert len(lines) == 3 and "fit epoch 3/3" in lines[-1] and "train_loss" in lines[-1]
    assert KDISTILL.handlers == [] and KDISTILL.level == logging.NOTSET  # nothing left behind


def test_distill_logs_one_line_per_epoch(unconfigured_logging, capsys):
    with unconfigured_logging():
        kdistill.distill(model(), model(), batches(), epochs=2, lr=0.1)
    assert [line.split()[1:4] for line in epoch_lines(capsys.readouterr().err)] == [
        ["hinton", "epoch", "1/2"], ["hinton", "epoch", "2/2"]]


def test_verbose_false_silences_the_epoch_lines(unconfigured_logging, capsys):
    with unconfigured_logging():
        kdistill.fit(model(), batches(), epochs=2, lr=0.1, verbose=False)
    assert epoch_lines(capsys.readouterr().err) == []
    assert KDISTILL.level == logging.NOTSET


def test_configured_logging_gets_each_line_once_and_no_extra_handler(caplog, capsys):
    caplog.set_level(logging.INFO, logger="kdistill")  # the user's own logging setup (a root handler)
    kdistill.fit(model(), batches(), epochs=2, lr=0.1)
    assert len([r for r in caplog.records if " epoch " in r.getMessage()]) == 2
    assert epoch_lines(capsys.readouterr().err) == []  # kdistill added no stderr handler of its own


def test_a_level_set_by_the_user_silences_it(unconfigured_logging, capsys):
    KDISTILL.setLevel(logging.WARNING)
    with unconfigured_logging():
        kdistill.fit(model(), batches(), epochs=2, lr=0.1)
    assert epoch_lines(capsys.readouterr().err) == []
    assert KDISTILL.level == logging.WARNING
