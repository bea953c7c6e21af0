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


def read_model_description(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MODEL_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} has no {MODEL_FILE}: it is not a kdistill run directory, or was written by an "
                          "older kdistill; pass the folder `kdistill run` created")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is corrupt ({error}); rerun the recipe into a new run directory") from error


def finished_stages(run_dir: Path) -> list[str]:
    return [stage for stage in STAGES if (Path(run_dir) / stage / EXPORT).exists()]


def load_student(run_dir: str | Path, stage: str | None = None) -> nn.Module:
    """The trained model of ``stage`` (default: ``finetuned`` if the run fine-tuned, else ``distilled``), in eval mode.

    The architecture comes from ``RUN_DIR/model.json``; plugin models must be registered first
    (``kdistill.load_plugins([...])``).
    """
    from kdistill.models import AveragedEnsemble, build_model
    from kdistill.training.checkpoint import read_export

    run_dir = Path(run_dir)
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
