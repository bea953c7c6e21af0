"""Run directories: one folder per experiment, holding everything needed to compare or resume it.

    runs/<recipe>-<YYYYmmdd-HHMMSS>/
        config.yaml            the resolved recipe (defaults filled in, overrides applied)
        fingerprint.json       sha256 of that config, the config itself, and each stage's keys (experiment/fingerprint)
        teacher/ baseline/ distilled/ [finetuned/]
            metrics.jsonl, checkpoints/, best.safetensors, student.safetensors, done.json (with the export's sha256)
        report.md, report.json, curves.png, reliability.png, confusion.png

A folder is claimed (:func:`claim_run_dir`) before a run writes anything into it. Reusing it (``--run-dir`` on an
existing folder, ``--resume``) is refused when a stage that already holds results was trained with other settings, or
when config.yaml was edited after the run wrote it; nothing is written unless every check passes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import yaml

from kdistill import distributed
from kdistill.atomic import atomic_write_text, is_temporary, remove_stale_temporaries
from kdistill.config import Recipe, from_dict, to_dict
from kdistill.config.load import read_yaml
from kdistill.errors import ConfigError
from kdistill.experiment.fingerprint import config_keys, describe_changes, digest, keys_added_since, stage_keys

log = logging.getLogger("kdistill")

CONFIG_FILE = "config.yaml"
FINGERPRINT_FILE = "fingerprint.json"


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
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a kdistill run directory (no {CONFIG_FILE}); pass the folder "
                          "that `kdistill run` created")
    return from_dict(Recipe, read_yaml(path))


def claim_run_dir(run_dir: str | Path, recipe: Recipe, resume: bool) -> None:
    """Check that ``run_dir`` may receive ``recipe``'s run, then record the recipe there (rank 0 writes).

    Refused with a one-line ConfigError, before anything is written: a path that is a file or lies under one, or
    cannot be written; a non-empty folder that is no run folder; a config.yaml edited since the run wrote it; a stage
    holding results trained with other settings (or any results at all when ``resume`` is false, as they would be
    overwritten). Then it removes leftovers of interrupted writes and writes config.yaml and fingerprint.json.
    """
    run_dir, claimed_at = Path(run_dir), time.time()
    check_writable(run_dir)
    stages = stage_keys(recipe)
    recorded = recorded_stages(run_dir)
    check_stages(run_dir, stages, recorded, resume)
    distributed.barrier()  # every rank checked the folder as it was before rank 0 writes to it
    if distributed.context().is_main:
        write_claim(run_dir, recipe, stages, recorded or {}, claimed_at)
    distributed.barrier()


def check_writable(run_dir: Path) -> None:
    """A folder we can create and write: not a file, not under a file, in a folder with write permission."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} is a file; pass a folder path to --run-dir")
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot create run folder {run_dir}: {existing} is a file, not a folder; pass a --run-dir "
                          "that is not inside a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write run folder {run_dir}: no write permission on {existing}; pass a --run-dir "
                          "you can write to (or fix the folder's permissions)")


def recorded_stages(run_dir: Path) -> dict[str, dict[str, Any]] | None:
    """{stage: keys it was trained with} as the folder records them; None when the folder holds no run."""
    record = read_record(run_dir)
    config_path = run_dir / CONFIG_FILE
    if record is None:
        if config_path.is_file():  # a run folder from before fingerprints: trust its config.yaml
            return stage_keys(read_config(run_dir))
        if run_dir.is_dir() and any(not is_temporary(entry.name) for entry in run_dir.iterdir()):
            raise ConfigError(f"{run_dir} is not empty and holds no kdistill run (no {CONFIG_FILE}); pass a new or "
                              "empty folder to --run-dir")
        return None
    if config_path.is_file():
        current = config_keys(read_config(run_dir))
        # options the schema gained since the run was written read as their defaults: not an edit
        added = keys_added_since(record["config"], current)
        current = {key: value for key, value in current.items() if key not in added}
        # the previous config is accepted too: a run killed while claiming the folder wrote the record, not the yaml
        if digest(current) not in (record["config_sha256"], record.get("previous_config_sha256")):
            changes = describe_changes(record["config"], current)
            raise ConfigError(f"{config_path} was edited after the run wrote it ({changes}); restore it (the original "
                              f"is under 'config' in {FINGERPRINT_FILE}), or start a new run from the edited recipe: "
                              f"`kdistill run {config_path} --run-dir NEW_DIR`")
    return record["stages"]


def read_record(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        _ = record["config_sha256"], record["config"], record["stages"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is unreadable ({error}); this run folder cannot be checked - pass a new "
                          "--run-dir") from error
    return record


def check_stages(run_dir: Path, stages: dict[str, dict[str, Any]], recorded: dict[str, dict[str, Any]] | None,
                 resume: bool) -> None:
    """Every stage of this recipe that already holds results must have been trained with the same keys."""
    started = [name for name in stages if has_results(run_dir / name)]
    if started and not resume:
        raise ConfigError(f"{run_dir} already holds a run ({', '.join(started)}); reuse its finished stages with "
                          f"--run-dir or --resume (resume=True), or choose a new folder")
    changed = {}
    for name in started:
        old = (recorded or {}).get(name)
        if old is None:
            raise ConfigError(f"{run_dir / name} holds results whose settings were never recorded; move it away or "
                              "pass a new --run-dir")
        if old != stages[name]:
            changed[name] = old
    if changed:
        old_keys = {key: value for keys in changed.values() for key, value in keys.items()}
        new_keys = {key: value for name in changed for key, value in stages[name].items()}
        raise ConfigError(f"{run_dir} holds {', '.join(changed)} trained with other settings "
                          f"({describe_changes(old_keys, new_keys)}); pass a new --run-dir, or continue that run "
                          f"as it was with `kdistill run --resume {run_dir}`")


def has_results(stage_dir: Path) -> bool:
    """Does a stage folder hold anything a run would reuse (metrics, checkpoints, weights, done.json)?"""
    return stage_dir.is_dir() and any(path.is_file() and not is_temporary(path.name)
                                      for path in stage_dir.rglob("*"))


def write_claim(run_dir: Path, recipe: Recipe, stages: dict[str, dict[str, Any]],
                recorded: dict[str, dict[str, Any]], claimed_at: float) -> None:
    """Sweep dead temporaries, then record the recipe in config.yaml and fingerprint.json. Stage folders this recipe
    does not train (e.g. teacher-3 after teacher.members went from 3 to 2) keep their records."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create run folder {run_dir} ({error.strerror}); pass a --run-dir you can write "
                          "to") from error
    # the folder's one writer has not written yet: any temporary from before now is a killed write's leftover
    removed = remove_stale_temporaries(run_dir, older_than=claimed_at)
    if removed:
        log.info("removed %d leftover(s) of interrupted writes in %s", len(removed), run_dir)
    config = config_keys(recipe)
    kept = {name: keys for name, keys in recorded.items() if name not in stages and has_results(run_dir / name)}
    previous = read_record(run_dir)
    record = {
        "config_sha256": digest(config),
        "previous_config_sha256": previous["config_sha256"] if previous is not None else None,
        "config": config,
        "stages": {**kept, **stages},
    }
    if previous is not None and (run_dir / CONFIG_FILE).is_file() and \
            (previous["config_sha256"], previous["stages"]) == (record["config_sha256"], record["stages"]):
        return  # the same recipe again (--resume): nothing to write
    # Two files cannot change at once; the order makes a kill in between harmless. A new folder: config.yaml first
    # (alone it reads as a run from before fingerprints, whose stages are then derived from it). A recorded one:
    # fingerprint.json first (its previous_config_sha256 still vouches for the old config.yaml).
    text = json.dumps(record, indent=2, sort_keys=True)
    if previous is None:
        write_config(run_dir, recipe)
        atomic_write_text(run_dir / FINGERPRINT_FILE, text)
    else:
        atomic_write_text(run_dir / FINGERPRINT_FILE, text)
        write_config(run_dir, recipe)
