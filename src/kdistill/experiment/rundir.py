"""Run directories: one folder per experiment, holding everything needed to compare or resume it.

    runs/<recipe>-<YYYYmmdd-HHMMSS>/
        config.yaml            the resolved recipe (defaults filled in, overrides applied)
        teacher/ baseline/ distilled/ [finetuned/]
            metrics.jsonl, checkpoints/, best.safetensors, student.safetensors, done.json
        report.md, report.json, curves.png, reliability.png, confusion.png
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from kdistill.atomic import atomic_write_text
from kdistill.config import Recipe, from_dict, to_dict
from kdistill.errors import ConfigError

CONFIG_FILE = "config.yaml"


def new_run_dir(recipe: Recipe, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{recipe.name}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{recipe.name}-{stamp}-{suffix}"
    return path


def write_config(run_dir: Path, recipe: Recipe) -> None:
    atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(to_dict(recipe), sort_keys=False))


def read_config(run_dir: Path) -> Recipe:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a kdistill run directory (no {CONFIG_FILE}); pass the folder "
                          "that `kdistill run` created")
    return from_dict(Recipe, yaml.safe_load(path.read_text()))
