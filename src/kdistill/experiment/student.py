"""The trained student back out of a run directory, ready for inference.

``kdistill run`` writes ``RUN_DIR/model.json`` - what the networks take and predict (input shape, classes and their
names, each stage's architecture) - so a model can be rebuilt without the training data. :func:`load_student` builds
the architecture from it and loads the stage's exported weights (hash-checked where the stage recorded one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from kdistill.atomic import atomic_write_text
from kdistill.config import Recipe
from kdistill.errors import CheckpointError, ConfigError

MODEL_FILE = "model.json"
STAGES = ("teacher", "baseline", "distilled", "finetuned")
EXPORT = "student.safetensors"
LANGUAGE_MODEL = "language-model"
PRETRAINED = "pretrained"  # kdistill.experiment.pretrained_export.PRETRAINED_FOLDER


def write_model_description(run_dir: Path, recipe: Recipe, input_shape: tuple[int, ...] | dict[str, Any],
                            num_classes: int, class_names: list[str], feature_names: list[str] | None = None) -> None:
    description = {
        "input_shape": ({key: list(value) for key, value in input_shape.items()} if isinstance(input_shape, dict)
                        else list(input_shape)), "num_classes": num_classes, "class_names": list(class_names),
        "dataset": recipe.data.dataset, "data_options": recipe.data.options, "feature_names": feature_names,
        "student": {"model": recipe.student.model, "model_args": recipe.student.model_args},
        "teacher": {"model": recipe.teacher.model, "model_args": recipe.teacher.model_args,
                    "members": recipe.teacher.members},
    }
    atomic_write_text(Path(run_dir) / MODEL_FILE, json.dumps(description, indent=2))


def write_language_model_description(run_dir: Path, recipe: Recipe) -> None:
    """A language-model run's model.json: it says so (``task``), so the classification tools refuse it clearly and
    ``load_student`` reads the stage's ``save_pretrained`` folder."""
    description = {"task": LANGUAGE_MODEL, "dataset": recipe.data.dataset, "data_options": recipe.data.options,
                   "student": {"model": recipe.student.model, "model_args": recipe.student.model_args},
                   "teacher": {"model": recipe.teacher.model, "model_args": recipe.teacher.model_args}}
    atomic_write_text(Path(run_dir) / MODEL_FILE, json.dumps(description, indent=2))


def read_model_description(run_dir: Path) -> dict[str, Any]:
    """model.json of a classification run (what ``predict``, ``profile`` and ``export`` rebuild models from)."""
    description = _description(Path(run_dir))
    if description.get("task") == LANGUAGE_MODEL:
        raise ConfigError(f"{run_dir} is a language-model run: kdistill predict, profile and export take "
                          f"classification runs; load its student with kdistill.load_student('{run_dir}') or "
                          f"transformers.AutoModelForCausalLM.from_pretrained('{Path(run_dir) / 'distilled' / PRETRAINED}')"
                          " - its report.md has the perplexity, tokens/s and peak memory")
    return description


def _description(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MODEL_FILE
    if not path.exists():
        report = run_dir / "report.json"  # language-model runs written before they had a model.json
        if report.is_file() and json.loads(report.read_text()).get("task") == LANGUAGE_MODEL:
            return {"task": LANGUAGE_MODEL}
        raise ConfigError(f"{run_dir} has no {MODEL_FILE}: it is not a kdistill run directory, or was written by an "
                          "older kdistill; pass the folder `kdistill run` created")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is corrupt ({error}); rerun the recipe into a new run directory") from error


def load_language_model(run_dir: Path, stage: str | None) -> nn.Module:
    """A language-model run's ``stage`` (default ``distilled``) from its ``save_pretrained`` folder, in eval mode."""
    from transformers import AutoModelForCausalLM

    stage = stage or "distilled"
    if stage not in ("baseline", "distilled"):
        raise ConfigError(f"a language-model run trains the stages baseline and distilled, not {stage!r}; its teacher "
                          "is the pretrained model the recipe names (kdistill.models.build_model)")
    folder = run_dir / stage / PRETRAINED
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{run_dir} has no finished {stage} stage ({folder} is missing); finish the run with "
                              f"`kdistill run --resume {run_dir}`")
    return AutoModelForCausalLM.from_pretrained(str(folder)).eval()


def finished_stages(run_dir: Path) -> list[str]:
    return [stage for stage in STAGES if (Path(run_dir) / stage / EXPORT).exists()]


def load_student(run_dir: str | Path, stage: str | None = None) -> nn.Module:
    """The trained model of ``stage`` (default: ``finetuned`` if the run fine-tuned, else ``distilled``), in eval mode.
    For a language-model run: the stage's ``save_pretrained`` folder as a transformers causal LM.

    The architecture comes from ``RUN_DIR/model.json``; plugin models must be registered first
    (``kdistill.load_plugins([...])``).
    """
    from kdistill.models import AveragedEnsemble, build_model
    from kdistill.training.checkpoint import read_export

    run_dir = Path(run_dir)
    if _description(run_dir).get("task") == LANGUAGE_MODEL:
        return load_language_model(run_dir, stage)
    description = read_model_description(run_dir)
    done = finished_stages(run_dir)
    if stage is None:
        stage = "finetuned" if "finetuned" in done else "distilled"
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; choose one of: {', '.join(STAGES)}")
    if stage not in done:
        raise CheckpointError(f"{run_dir} has no finished {stage} stage (finished: {', '.join(done) or 'none'}); "
                              f"finish the run with `kdistill run --resume {run_dir}` or pick another stage")
    stored = description["input_shape"]  # a list, or {input name: list} for multi-input models (text)
    shape = {key: tuple(value) for key, value in stored.items()} if isinstance(stored, dict) else tuple(stored)
    classes = int(description["num_classes"])
    section = description["teacher" if stage == "teacher" else "student"]

    def built(stage_folder: str) -> nn.Module:
        model = build_model(section["model"], shape, classes, **section["model_args"])
        state = read_export(run_dir / stage_folder)[0]  # checked against done.json's sha256
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise CheckpointError(f"{run_dir / stage_folder / EXPORT} does not fit {section['model']} "
                                  f"{section['model_args']} ({str(error).splitlines()[0]}); the run folder was "
                                  "changed after training") from error
        return model

    members = int(section.get("members", 1)) if stage == "teacher" else 1
    if members > 1:
        model: nn.Module = AveragedEnsemble([built("teacher" if i == 0 else f"teacher-{i + 1}")
                                             for i in range(members)])
    else:
        model = built(stage)
    model.class_names = description["class_names"]  # type: ignore[assignment]
    return model.eval()
