"""The study folder: its recipe and settings, the Optuna storage (SQLite) and the lock of the process driving it.

    tune/<recipe>-<YYYYmmdd-HHMMSS>/
        recipe.yaml      the base recipe (resolved); every trial applies its parameters to it
        tune.json        the search space, pruning, the number of trials asked for
        study.db         Optuna's SQLite storage: every trial's parameters, per-epoch values and state
        shared/          a run folder holding the teacher stage(s), trained once for all trials (+ teacher cache)
        trials/NNNN/     one run folder per trial: config.yaml, distilled/ (metrics.jsonl, checkpoints)
        best.yaml, importance.png, summary.json, summary.md
        tune.lock, claim.lock   held by the driving process / by a worker while it claims its next trial

Rerunning on the folder continues the study: finished trials stay, a trial whose process was killed is failed and
queued again with the same parameters, and its new run resumes the old trial folder from its last epoch.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from kdistill.atomic import atomic_write_text
from kdistill.config import Recipe, from_dict, to_dict
from kdistill.config.load import read_yaml
from kdistill.errors import ConfigError
from kdistill.experiment.fingerprint import config_keys, describe_changes, digest
from kdistill.tuning.space import Space

log = logging.getLogger("kdistill")

RECIPE_FILE = "recipe.yaml"
SETTINGS_FILE = "tune.json"
STORAGE_FILE = "study.db"
LOCK_FILE = "tune.lock"
CLAIM_LOCK_FILE = "claim.lock"
SHARED_DIR = "shared"
TRIALS_DIR = "trials"
STUDY_NAME = "kdistill"
TUNE_EXTRA_HINT = "install the tune extra: pip install 'kdistill[tune]'"


@dataclass
class Settings:
    """How the study searches; stored in tune.json so workers and later runs read the same."""

    trials: int
    space: Space
    prune: bool = True
    jobs: int = 1

    @classmethod
    def read(cls, study_dir: Path) -> Settings:
        data = json.loads((study_dir / SETTINGS_FILE).read_text())
        data["space"] = {key: tuple(value) for key, value in data["space"].items()}
        return cls(**data)

    def write(self, study_dir: Path) -> None:
        atomic_write_text(study_dir / SETTINGS_FILE, json.dumps(asdict(self), indent=2) + "\n")


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError(f"kdistill tune needs Optuna; {TUNE_EXTRA_HINT}") from None
    return optuna


def new_study_dir(recipe: Recipe, root: str | Path = "tune") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, suffix = Path(root) / f"{recipe.name}-{stamp}", 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{recipe.name}-{stamp}-{suffix}"
    return path


def read_study_recipe(study_dir: Path) -> Recipe:
    if not (study_dir / RECIPE_FILE).is_file():
        raise ConfigError(f"{study_dir} is not a kdistill study folder (no {RECIPE_FILE}); pass the folder that "
                          "`kdistill tune` created")
    return from_dict(Recipe, read_yaml(study_dir / RECIPE_FILE))


def claim_study(study_dir: Path, recipe: Recipe, settings: Settings) -> None:
    """Record a new study, or check that an existing one searched the same recipe and space (the number of trials
    may grow: a rerun with a larger --trials extends the study)."""
    if (study_dir / RECIPE_FILE).is_file():
        recorded = config_keys(read_study_recipe(study_dir))
        if digest(recorded) != digest(config_keys(recipe)):
            raise ConfigError(f"{study_dir} holds a study of another recipe ({describe_changes(recorded, config_keys(recipe))}); "
                              f"continue it with `kdistill tune --resume {study_dir}` or pass a new --study-dir")
        previous = Settings.read(study_dir)
        if previous.space != settings.space or previous.prune != settings.prune:
            raise ConfigError(f"{study_dir} searched {format_space(previous.space)} (pruning "
                              f"{'on' if previous.prune else 'off'}); continue it with the same space, or pass a new "
                              "--study-dir")
        settings.write(study_dir)
        return
    if study_dir.exists() and (not study_dir.is_dir() or any(study_dir.iterdir())):
        raise ConfigError(f"{study_dir} exists and is not a kdistill study folder; pass a new or empty --study-dir")
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(study_dir / RECIPE_FILE, yaml.safe_dump(to_dict(recipe), sort_keys=False))
    settings.write(study_dir)


def format_space(space: Space) -> str:
    return ", ".join(f"{key} {tuple(dimension)}" for key, dimension in space.items())


@contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Held by the process driving a study: while it lives no trial of another driver is running, so a trial found
    RUNNING when the lock is taken was interrupted."""
    handle = open(study_dir / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another `kdistill tune` is working on {study_dir}; wait for it to finish (or stop it) "
                              "and rerun to continue the study") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """A blocking inter-process lock on ``path`` (released when the block ends or the process dies)."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def claim_trial(study: Any, study_dir: Path, trials: int) -> Any | None:
    """The next trial for this worker, or None once the study holds ``trials`` of them.

    Claims are serialised across the study's worker processes. Optuna alone is not safe here on SQLite: its claim of a
    queued trial reads the trial's state and writes RUNNING in two statements, and pysqlite runs the read outside the
    write transaction, so two workers could both read WAITING and both run the same queued trial in the same folder
    (one of them then failed it, and the other's report ended with Optuna's "Cannot tell a FAIL trial"). Checking the
    count under the same lock also keeps two workers from both starting the last trial."""
    with exclusive(study_dir / CLAIM_LOCK_FILE):
        if counted_trials(study) >= trials:
            return None
        return study.ask()  # a queued trial (now RUNNING) or a new one, committed before the lock is released


def run_claimed_trial(study: Any, objective: Any, trial: Any, expected_failures: tuple[type[Exception], ...]) -> None:
    """Run ``objective(trial)`` and record the outcome: the value, PRUNED, or FAIL (re-raised unless expected)."""
    optuna = import_optuna()
    states = optuna.trial.TrialState
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=states.PRUNED)
        return
    except expected_failures:
        study.tell(trial, state=states.FAIL)
        return
    except BaseException:
        study.tell(trial, state=states.FAIL)
        raise
    study.tell(trial, value)


def open_storage(study_dir: Path) -> Any:
    """Optuna's storage in study_dir/study.db."""
    optuna = import_optuna()
    return optuna.storages.RDBStorage(
        f"sqlite:///{(study_dir / STORAGE_FILE).resolve()}",
        engine_kwargs={"connect_args": {"timeout": 120}},  # parallel workers wait for SQLite's write lock
    )


def open_study(storage: Any, settings: Settings, seed: int) -> Any:
    """The study in ``storage`` (created on first use). Its sampler is seeded with ``seed`` plus the number of trials
    so far: a continued study (or another worker, given another ``seed``) must not propose the same values again."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # kdistill logs each trial itself
    startup = min(10, max(3, settings.trials // 3))  # random trials before TPE models the results
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=1) if settings.prune
              else optuna.pruners.NopPruner())
    study = optuna.create_study(storage=storage, pruner=pruner, study_name=STUDY_NAME, direction="maximize",
                                load_if_exists=True)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False)),
                                               n_startup_trials=startup)
    return study


def requeue_interrupted(study: Any, storage: Any) -> int:
    """Fail every trial left RUNNING by a killed process and queue its parameters again (the new trial resumes the
    old trial's folder). Call only while holding :func:`study_lock`. Returns how many were queued."""
    optuna = import_optuna()
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        # Optuna offers no public handle on another process's trial; the storage takes its internal id
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        folder = trial.user_attrs.get("folder", trial_folder_name(trial.number))
        study.enqueue_trial(trial.params, user_attrs={"folder": folder, "resumes": trial.number})
        log.info("tune: trial %d was interrupted; queued again, resuming %s", trial.number, folder)
    return len(stale)


def counted_trials(study: Any) -> int:
    """Trials that count towards --trials: finished (complete, pruned, failed on their own) or running."""
    optuna = import_optuna()
    states = optuna.trial.TrialState
    return sum(1 for trial in study.get_trials(deepcopy=False)
               if trial.state in (states.COMPLETE, states.PRUNED, states.RUNNING)
               or (trial.state == states.FAIL and not trial.user_attrs.get("interrupted")))


def trial_folder_name(number: int) -> str:
    return f"{number:04d}"
