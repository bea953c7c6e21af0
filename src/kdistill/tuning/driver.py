"""``kdistill tune``: drive a study - claim its folder, train the teacher once, run trials in 1..J processes, summarise.

    result = kdistill.tune("hinton-mnist", ["student.train.epochs=10"], trials=20)
    result.best_params, result.best_value, result.best_recipe   # best.yaml: `kdistill run STUDY/best.yaml`
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdistill.config import Recipe, load_recipe
from kdistill.errors import KdistillError
from kdistill.tuning.space import Space, recipe_values, resolve_space
from kdistill.tuning.study import (
    SETTINGS_FILE,
    Settings,
    claim_study,
    claim_trial,
    new_study_dir,
    open_storage,
    open_study,
    read_study_recipe,
    requeue_interrupted,
    run_claimed_trial,
    study_lock,
)

log = logging.getLogger("kdistill")


@dataclass
class TuneResult:
    study_dir: Path
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    best_recipe: Path  # study_dir/best.yaml
    summary: dict[str, Any] = field(default_factory=dict)


def tune(
    recipe: str | Recipe = "quick",
    overrides: list[str] | None = None,
    trials: int | None = None,
    study_dir: str | Path | None = None,
    jobs: int = 1,
    prune: bool = True,
    search: list[str] | None = None,
    space: Space | None = None,
    resume: bool = False,
    plugins: list[str] | None = None,
) -> TuneResult:
    """Search the method's space (and the student's learning rate) for the best validation accuracy of the distilled
    student; ``trials`` counts the whole study (default: what the study recorded, else 20), so rerunning on
    ``study_dir`` continues it (``resume=True`` reads the recipe from there). ``jobs`` > 1 runs trials in that many
    processes (each with the recipe's threads)."""
    from kdistill.tuning.study import import_optuna
    from kdistill.tuning.summary import summarise
    from kdistill.tuning.trial import checked_recipe, prepare_shared_teacher

    import_optuna()  # a missing extra is one line before anything is written
    if trials is None:
        recorded = Path(study_dir) / SETTINGS_FILE if study_dir is not None else None
        trials = Settings.read(Path(study_dir)).trials if recorded is not None and recorded.is_file() else 20
    if trials < 1 or jobs < 1:
        raise KdistillError(f"--trials and --jobs must be >= 1, got {trials} and {jobs}")
    if resume:
        if study_dir is None:
            raise KdistillError("resume=True needs the study folder (study_dir)")
        base = read_study_recipe(Path(study_dir))
    else:
        base = recipe if isinstance(recipe, Recipe) else load_recipe(recipe, overrides)
    folder = Path(study_dir) if study_dir is not None else new_study_dir(base)
    settings = Settings(trials=trials, space=resolve_space(base, search, space), prune=prune, jobs=jobs)
    checked, data = checked_recipe(base)  # every check before the study folder is written
    claim_study(folder, base, settings)
    log.info("tune: study %s, %d trial(s) over %s", folder, trials, ", ".join(settings.space))
    cores = os.cpu_count() or 1
    if jobs * base.threads > cores:
        log.warning("tune: %d job(s) x %d thread(s) exceed the %d core(s) here: trials will slow each other down",
                    jobs, base.threads, cores)
    with study_lock(folder):
        storage = open_storage(folder)
        study = open_study(storage, settings, base.seed)
        requeue_interrupted(study, storage)
        if not study.get_trials(deepcopy=False):  # the recipe's own values first: the baseline to beat
            study.enqueue_trial(recipe_values(base, settings.space), user_attrs={"recipe_values": True})
        prepare_shared_teacher(checked, data, folder)
        run_workers(folder, jobs, plugins)
        study = open_study(storage, settings, base.seed)
        summary = summarise(study, base, settings, folder)
    best = summary["best"]
    return TuneResult(folder, best["params"], best["value"], best["trial"], folder / "best.yaml", summary)


def run_workers(study_dir: Path, jobs: int, plugins: list[str] | None) -> None:
    """Trials in this process (jobs=1) or in ``jobs`` fresh processes sharing the study's storage."""
    if jobs == 1:
        work(str(study_dir), 0, plugins)
        return
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools or open SQLite handles
    processes = [context.Process(target=work, args=(str(study_dir), index, plugins), name=f"tune-worker-{index}")
                 for index in range(jobs)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [f"{process.name} (exit {process.exitcode})" for process in processes if process.exitcode != 0]
    if failed:
        raise KdistillError(f"tuning worker(s) {', '.join(failed)} stopped; rerun the same command to continue the "
                            f"study in {study_dir} (interrupted trials resume)")


def work(study_dir: str, worker: int, plugins: list[str] | None) -> None:
    """One worker: start trials until the study holds ``--trials`` of them."""
    import logging as logging_module

    from kdistill.errors import KdistillError as TrialFailure
    from kdistill.tuning.study import Settings as StudySettings
    from kdistill.tuning.trial import TrialRunner

    if worker > 0 or multiprocessing.parent_process() is not None:  # a spawned process: set up like the CLI
        from kdistill.logs import LOG_DATE_FORMAT, LOG_FORMAT
        from kdistill.plugins import load_plugins

        logging_module.basicConfig(level=logging_module.INFO, format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT)
        load_plugins(plugins)
    folder = Path(study_dir)
    settings = StudySettings.read(folder)
    recipe = read_study_recipe(folder)
    runner = TrialRunner(recipe, folder, settings.space, settings.prune)
    storage = open_storage(folder)
    # a different sampler seed per worker and per continuation: seeded alike, they would propose the same values
    study = open_study(storage, settings, recipe.seed + 1000 * worker)
    while (trial := claim_trial(study, folder, settings.trials)) is not None:
        run_claimed_trial(study, runner, trial, expected_failures=(TrialFailure,))

