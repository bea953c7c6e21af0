"""One trial: the distilled stage alone, with the trial's parameters, scored on the validation split.

The teacher comes from the study's shared run folder (trained once); the baseline student and the report are not
part of a trial. The test split is sealed for the whole study: any read of it raises, so a tuned recipe can never
have seen the test set it is later reported on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch

from kdistill.config import Recipe
from kdistill.errors import ConfigError, DataError, KdistillError
from kdistill.experiment.check import check_recipe, dry_run
from kdistill.experiment.run import distill_stage, teacher_stage
from kdistill.experiment.rundir import claim_run_dir
from kdistill.experiment.splits import ExperimentData, prepare_data
from kdistill.strategies import uses_teacher
from kdistill.training.history import read_records
from kdistill.tuning.space import Space, apply_params, suggest
from kdistill.tuning.study import (
    SHARED_DIR,
    TRIALS_DIR,
    import_optuna,
    trial_folder_name,
)

log = logging.getLogger("kdistill")


class SealedSplit:
    """Stands in for the test split while tuning: any use (length, indexing, attributes, tensor ops) raises."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise DataError(f"the test split ({self._name}) is sealed while tuning: trials are scored on the validation "
                        "split only; evaluate the tuned recipe with `kdistill run best.yaml`")

    def __getattr__(self, name: str) -> Any:
        return self._refuse()

    __len__ = __getitem__ = __iter__ = __array__ = _refuse

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        raise DataError("the test split is sealed while tuning: trials are scored on the validation split only")


def tuning_data(recipe: Recipe) -> ExperimentData:
    """The recipe's splits with the test split sealed (validation present: it is the objective)."""
    data = prepare_data(recipe.data, recipe.seed)
    if len(data.val_labels) == 0:
        raise ConfigError("tuning scores trials on the validation split, and this recipe has none; set "
                          "data.val_size > 0 (carved from the training set)")
    data = dataclasses.replace(data, test_images=SealedSplit("test_images"), test_labels=SealedSplit("test_labels"))
    if data.streams is not None:
        data.streams = {**data.streams, "test": SealedSplit("test stream")}
    return data


def checked_recipe(recipe: Recipe) -> tuple[Recipe, ExperimentData]:
    """The whole base recipe validated (names, arguments, one dry step on real samples) before a study folder is
    written; returns it with the sealed data."""
    torch.set_num_threads(recipe.threads)
    recipe = check_recipe(recipe)
    data = tuning_data(recipe)
    dry_run(recipe, data)
    return recipe, data


def prepare_shared_teacher(recipe: Recipe, data: ExperimentData, study_dir: Path) -> None:
    """Train the study's teacher once in study_dir/shared (resumable; skipped when finished), and build its teacher
    cache there if the recipe uses one - before any worker starts, so parallel trials never build it twice."""
    if not uses_teacher(recipe.distill.method):
        return
    shared = study_dir / SHARED_DIR
    claim_run_dir(shared, recipe, resume=True)
    teacher, _ = teacher_stage(recipe, data, shared, resume=True)
    if recipe.distill.cache.enabled:
        from kdistill import distributed
        from kdistill.cache.recipe import build_recipe_cache
        from kdistill.experiment.run import distillation_view

        build_recipe_cache(recipe, distillation_view(teacher, recipe), data.train_images, data.train_labels, shared,
                           distributed.context())


class TrialRunner:
    """The objective: ``runner(trial) -> validation accuracy`` of the distilled student with the trial's values."""

    def __init__(self, recipe: Recipe, study_dir: Path, space: Space, prune: bool):
        torch.set_num_threads(recipe.threads)
        self.recipe, self.study_dir, self.space, self.prune = check_recipe(recipe), study_dir, space, prune
        self.data = tuning_data(self.recipe)
        self.teacher = None
        if uses_teacher(self.recipe.distill.method):  # trained by prepare_shared_teacher: loaded, checked by hash
            self.teacher, _ = teacher_stage(self.recipe, self.data, study_dir / SHARED_DIR, resume=True)

    def trial_recipe(self, params: dict[str, Any]) -> Recipe:
        recipe = apply_params(self.recipe, params)
        cache = recipe.distill.cache
        if cache.enabled and cache.dir is None:  # every trial reads the one cache built from the shared teacher
            recipe = dataclasses.replace(recipe, distill=dataclasses.replace(
                recipe.distill, cache=dataclasses.replace(cache, dir=str(self.study_dir / SHARED_DIR / "teacher-cache"))))
        return check_recipe(recipe)

    def __call__(self, trial: Any) -> float:
        optuna = import_optuna()
        params = suggest(trial, self.space)
        folder_name = trial.user_attrs.get("folder") or trial_folder_name(trial.number)
        trial.set_user_attr("folder", folder_name)
        folder = self.study_dir / TRIALS_DIR / folder_name
        started = time.perf_counter()
        try:
            recipe = self.trial_recipe(params)
            claim_run_dir(folder, recipe, resume=True)
            for record in read_records(folder / "distilled" / "metrics.jsonl"):  # a resumed trial's earlier epochs
                if record.get("val_accuracy") is not None:
                    trial.report(record["val_accuracy"], record["epoch"])
            stage = distill_stage(recipe, self.data, self.teacher, folder, resume=True,
                                  on_epoch=self.pruning_check(trial, optuna) if self.prune else None)
        except optuna.TrialPruned:
            log.info("tune: trial %d pruned (%s) after %.0fs", trial.number, describe(params), elapsed(started))
            raise
        except KdistillError as error:  # this trial's values failed (diverged, refused): the study goes on
            trial.set_user_attr("error", str(error))
            log.warning("tune: trial %d failed (%s): %s", trial.number, describe(params), error)
            raise
        value = objective_value(stage.result, recipe)
        log.info("tune: trial %d val accuracy %.2f%% (%s) in %.0fs", trial.number, 100 * value, describe(params),
                 elapsed(started))
        return value

    @staticmethod
    def pruning_check(trial: Any, optuna: Any) -> Any:
        def on_epoch(record: dict[str, Any]) -> None:
            trial.report(record["val_accuracy"], record["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"val accuracy {record['val_accuracy']:.4f} after epoch {record['epoch']} "
                                         "is below the median of earlier trials")

        return on_epoch


def objective_value(result: Any, recipe: Recipe) -> float:
    """Validation accuracy of the weights the stage keeps (the best epoch's, or the last with select: last)."""
    if recipe.student.train.select == "last" and result.history:
        return float(result.history[-1]["val_accuracy"])
    return float(result.best_val_accuracy)


def describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value:.4g}" if isinstance(value, float)
                     else f"{key.rsplit('.', 1)[-1]}={value}" for key, value in params.items())


def elapsed(started: float) -> float:
    return time.perf_counter() - started
