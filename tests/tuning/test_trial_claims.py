"""Parallel workers never run the same trial: claiming a queued trial is serialised across processes.

Optuna's own claim reads the queued trial's state and writes RUNNING in two statements, which pysqlite does not make
atomic; the test widens that window to one second in every worker, so without kdistill's claim lock both workers
take the same queued trial (seen in CI as "Cannot tell a FAIL trial")."""

import multiprocessing
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from kdistill.tuning.study import claim_trial, open_storage, run_claimed_trial  # noqa: E402


def slow_claiming_worker(study_dir: str, trials: int, start, results) -> None:  # type: ignore[no-untyped-def]
    from optuna.storages._rdb import models

    read = models.TrialModel.find_or_raise_by_id.__func__

    def read_then_wait(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        row = read(cls, *args, **kwargs)
        time.sleep(1.0)  # the window between reading WAITING and writing RUNNING
        return row

    models.TrialModel.find_or_raise_by_id = classmethod(read_then_wait)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="kdistill", storage=open_storage(Path(study_dir)))
    start.wait()  # both workers claim at the same moment
    trial = claim_trial(study, Path(study_dir), trials)
    results.put(None if trial is None else trial.number)


def test_two_workers_claiming_at_once_get_different_trials(tmp_path):
    storage = open_storage(tmp_path)
    study = optuna.create_study(study_name="kdistill", storage=storage, direction="maximize")
    study.enqueue_trial({"x": 1.0})
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Barrier(2)
    workers = [context.Process(target=slow_claiming_worker, args=(str(tmp_path), 2, start, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert sorted(results.get(timeout=5) for _ in workers) == [0, 1]


def test_no_trial_is_claimed_beyond_the_study_size(tmp_path):
    study = optuna.create_study(study_name="kdistill", storage=open_storage(tmp_path), direction="maximize")
    first = claim_trial(study, tmp_path, 1)
    assert first is not None and claim_trial(study, tmp_path, 1) is None  # the running trial counts


def test_outcomes_are_recorded_and_unexpected_errors_re_raised(tmp_path):
    study = optuna.create_study(study_name="kdistill", storage=open_storage(tmp_path), direction="maximize")

    def pruned(trial):
        trial.report(0.5, 1)
        raise optuna.TrialPruned()

    def refused(trial):
        raise KeyError("bad values")

    run_claimed_trial(study, lambda trial: 0.9, claim_trial(study, tmp_path, 9), expected_failures=(KeyError,))
    run_claimed_trial(study, pruned, claim_trial(study, tmp_path, 9), expected_failures=(KeyError,))
    run_claimed_trial(study, refused, claim_trial(study, tmp_path, 9), expected_failures=(KeyError,))
    with pytest.raises(ZeroDivisionError):
        run_claimed_trial(study, lambda trial: 1 / 0, claim_trial(study, tmp_path, 9), expected_failures=(KeyError,))
    states = [(trial.state.name, trial.value) for trial in study.trials]
    assert states == [("COMPLETE", 0.9), ("PRUNED", 0.5), ("FAIL", None), ("FAIL", None)]
