"""A study killed (-9) in the middle of a trial continues where it stopped; trials also run in parallel processes."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

import optuna  # noqa: E402

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
TINY = [
    "data.dataset=digits", "data.val_size=200", "teacher.train.epochs=1", "student.train.epochs=3",
    "teacher.model_args.hidden=[32]", "student.model_args.hidden=[16]", "teacher.model_args.max_norm=null",
    "teacher.jitter=0",
]
# `python -m kdistill ARGS`, but the process SIGKILLs itself right after the COUNT-th epoch checkpoint
KILL_AT_CHECKPOINT = """
import os, runpy, signal, sys
from kdistill.training import loop
count, seen, real = int(os.environ["KILL_AT_CHECKPOINT"]), [0], loop.save_checkpoint

def save_checkpoint(*args, **kwargs):
    real(*args, **kwargs)
    seen[0] += 1
    if seen[0] == count:
        os.kill(os.getpid(), signal.SIGKILL)

loop.save_checkpoint = save_checkpoint
sys.argv = ["kdistill", *sys.argv[1:]]
runpy.run_module("kdistill", run_name="__main__", alter_sys=True)
"""


def environment(**extra):
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", **extra}


def trials_of(folder):
    return optuna.load_study(study_name="kdistill", storage=f"sqlite:///{folder / 'study.db'}").trials


def test_a_killed_study_resumes_its_interrupted_trial_from_the_last_epoch(tmp_path):
    folder = tmp_path / "study"
    # teacher: 1 checkpoint, trial 0: 3, then trial 1 is killed after its 2nd epoch
    killed = subprocess.run([sys.executable, "-c", KILL_AT_CHECKPOINT, "tune", "quick", *TINY, "--trials", "3",
                             "--study-dir", str(folder)], capture_output=True, text=True,
                            env=environment(KILL_AT_CHECKPOINT="6"), timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    states = [trial.state.name for trial in trials_of(folder)]
    assert states == ["COMPLETE", "RUNNING"]

    resumed = subprocess.run([sys.executable, "-m", "kdistill", "tune", "--resume", str(folder), "--trials", "3"],
                             capture_output=True, text=True, env=environment(), timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "teacher epoch" not in resumed.stderr  # the shared teacher was finished: not trained again
    assert "resuming after epoch 2" in resumed.stderr  # the interrupted trial's stage continued from its checkpoint
    trials = trials_of(folder)
    interrupted, retry = trials[1], next(t for t in trials if t.user_attrs.get("resumes") == 1)
    assert interrupted.state.name == "FAIL" and interrupted.user_attrs["interrupted"]
    assert retry.state.name == "COMPLETE" and retry.params == interrupted.params
    assert retry.user_attrs["folder"] == "0001"
    epochs = [line for line in (folder / "trials" / "0001" / "distilled" / "metrics.jsonl").read_text().splitlines()]
    assert len(epochs) == 3  # epochs 1-2 from before the kill, 3 after: no epoch trained twice
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 3 and (folder / "best.yaml").is_file()


def test_trials_run_in_parallel_processes(tmp_path):
    folder = tmp_path / "parallel"
    done = subprocess.run([sys.executable, "-m", "kdistill", "tune", "quick", *TINY, "--trials", "2", "--jobs", "2",
                           "--study-dir", str(folder)], capture_output=True, text=True, env=environment(),
                          timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    trials = trials_of(folder)
    assert len(trials) == 2  # claims are serialised: no worker starts a trial beyond --trials, none runs another's
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # no worker repeated another
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
