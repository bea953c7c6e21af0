"""Per-epoch checkpoints that survive being killed at any moment, and a finished stage's verified export.

Layout inside a stage directory::

    checkpoints/epoch-0003.safetensors   student.*, strategy.* and best.* tensors (weights: safetensors, never pickle)
    checkpoints/epoch-0003.state.pt      optimizer + scheduler state, history (loaded with weights_only=True)
    checkpoints/latest.json              {"epoch": 3, files and their sha256, best.safetensors' sha256}: written last
    best.safetensors                     the best epoch's student (select: best)
    student.safetensors, done.json       the exported student; done.json (written last) records its sha256

Each file is written atomically and ``latest.json`` only points at a complete pair, so a run killed mid-save resumes
from the previous epoch. ``best.safetensors`` is written before the epoch's checkpoint commits, so a run killed in
between holds a best file the checkpoint does not know: resuming restores the committed one from the checkpoint's
``best.*`` tensors. A checkpoint or export whose hash does not match, or that does not load or fit the model, raises a
one-line CheckpointError.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from kdistill import distributed
from kdistill.atomic import atomic_write_bytes, atomic_write_text
from kdistill.errors import CheckpointError
from kdistill.strategies import load_trainable_state, trainable_state

log = logging.getLogger("kdistill")

BEST_FILE = "best.safetensors"
EXPORT_FILE = "student.safetensors"
DONE_FILE = "done.json"


@dataclass
class TrainingState:
    """What resuming needs beyond the weights."""

    epoch: int
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    history: list[dict[str, Any]]
    best_val_accuracy: float
    best_epoch: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save a flat tensor dict as safetensors, atomically (contiguous, cloned: safetensors refuses shared storage)."""
    tensors = {key: value.detach().contiguous().clone() for key, value in tensors.items()}
    # serialise in memory and write the bytes ourselves: safetensors' save_file writes its own 0600 temporary and
    # renames it over ours, so weights ended up 0600 (everything else 0644) and a kill left a stray .tmpXXXXXX
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot read weights {path} ({error}); the file is corrupt or truncated - delete it "
                              "and retrain, or point to another checkpoint") from error


def save_checkpoint(stage_dir: Path, student: nn.Module, strategy: nn.Module, state: TrainingState) -> None:
    folder = stage_dir / "checkpoints"
    stem = f"epoch-{state.epoch:04d}"
    weights = {f"student.{k}": v for k, v in student.state_dict().items()}
    weights.update({f"strategy.{k}": v for k, v in trainable_state(strategy).items()})
    best = stage_dir / BEST_FILE
    if best.exists():  # the committed copy of best.safetensors, restored on resume if the file moved on without us
        weights.update({f"best.{k}": v for k, v in load_weights(best).items()})
    save_weights(folder / f"{stem}.safetensors", weights, {"epoch": str(state.epoch)})
    buffer = io.BytesIO()  # in memory first: torch.save reports a full disk as a RuntimeError, a plain write as OSError
    torch.save(state.__dict__, buffer)
    atomic_write_bytes(folder / f"{stem}.state.pt", buffer.getvalue())
    pointer = {
        "epoch": state.epoch,
        "weights": f"{stem}.safetensors",
        "state": f"{stem}.state.pt",
        "sha256": {name: sha256_of(folder / name) for name in (f"{stem}.safetensors", f"{stem}.state.pt")},
    }
    if best.exists():
        pointer["best"] = {"sha256": sha256_of(best), "epoch": state.best_epoch}
    previous = read_pointer(stage_dir)
    atomic_write_text(folder / "latest.json", json.dumps(pointer, indent=2))
    if previous is not None and previous["epoch"] != state.epoch:  # keep only the newest complete checkpoint
        for name in (previous["weights"], previous["state"]):
            (folder / name).unlink(missing_ok=True)


def read_pointer(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / "checkpoints" / "latest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is corrupt ({error}); delete the checkpoints folder to restart") from error


def load_checkpoint(stage_dir: Path, student: nn.Module, strategy: nn.Module) -> TrainingState | None:
    """Restore student and strategy weights in place and return the training state; None when there is none."""
    pointer = read_pointer(stage_dir)
    if pointer is None:
        return None
    folder = stage_dir / "checkpoints"
    for name, expected in pointer["sha256"].items():
        if not (folder / name).exists() or sha256_of(folder / name) != expected:
            raise CheckpointError(f"checkpoint file {folder / name} is missing or its hash does not match "
                                  "latest.json; delete the checkpoints folder to restart this stage")
    weights = load_weights(folder / pointer["weights"])
    try:
        student.load_state_dict({k[8:]: v for k, v in weights.items() if k.startswith("student.")})
        load_trainable_state(strategy, {k[9:]: v for k, v in weights.items() if k.startswith("strategy.")})
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"checkpoint in {folder} does not fit this model ({first_line(error)}); "
                              "was the recipe changed? start a new run directory") from error
    restore_best(stage_dir, pointer, {k[5:]: v for k, v in weights.items() if k.startswith("best.")})
    path = folder / pointer["state"]
    try:
        raw = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:  # torch's own text is many lines and suggests weights_only=False
        raise CheckpointError(f"cannot read {path}: it holds Python objects other than tensors and plain values, "
                              "refused because loading them could run code; delete the checkpoints folder to "
                              "restart this stage") from error
    except Exception as error:  # torch raises several types for a bad file
        raise CheckpointError(f"cannot read {path} ({first_line(error)}); delete the checkpoints folder to restart "
                              "this stage") from error
    fields = {field.name for field in dataclasses.fields(TrainingState)}
    if not isinstance(raw, dict) or set(raw) != fields:
        raise CheckpointError(f"cannot read {path}: not a kdistill training state; delete the checkpoints folder to "
                              "restart this stage")
    return TrainingState(**raw)



def restore_best(stage_dir: Path, pointer: dict[str, Any], committed: dict[str, torch.Tensor]) -> None:
    """Make best.safetensors the one the checkpoint committed: a run killed after writing a new best but before
    committing that epoch left a best file from an epoch the resumed run repeats (rank 0 writes)."""
    recorded = pointer.get("best")
    path = stage_dir / BEST_FILE
    if recorded is None or (path.exists() and sha256_of(path) == recorded["sha256"]):
        return  # nothing recorded (no best yet, or a checkpoint from before best files were recorded) or intact
    if distributed.context().is_main:
        save_weights(path, committed, {"epoch": str(recorded["epoch"])})
        log.info("%s was not the one checkpoint epoch %d committed: restored it", path, pointer["epoch"])


def load_best(stage_dir: Path, model: nn.Module) -> None:
    """Load best.safetensors into ``model`` after checking it against the hash the last checkpoint recorded."""
    path = stage_dir / BEST_FILE
    recorded = (read_pointer(stage_dir) or {}).get("best")
    if recorded is not None and (not path.exists() or sha256_of(path) != recorded["sha256"]):
        raise CheckpointError(f"{path} is missing or does not match the sha256 in {stage_dir / 'checkpoints'}"
                              "/latest.json (changed after it was written); rerun with --resume to restore it from "
                              "the checkpoint")
    fit_weights(model, load_weights(path), path)


def export_stage(stage_dir: Path, model: nn.Module, record: dict[str, Any]) -> None:
    """Write the stage's exported weights, then done.json (last: it marks the stage finished) with their sha256."""
    save_weights(stage_dir / EXPORT_FILE, model.state_dict())
    done = {**record, "student_sha256": sha256_of(stage_dir / EXPORT_FILE)}
    atomic_write_text(stage_dir / DONE_FILE, json.dumps(done, indent=2))


def load_export(stage_dir: Path, model: nn.Module) -> dict[str, Any]:
    """Load a finished stage's student.safetensors into ``model`` after checking it against done.json; returns the
    rest of done.json (the stage's training result)."""
    weights, done = read_export(stage_dir)
    fit_weights(model, weights, stage_dir / EXPORT_FILE)
    return done


def read_export(stage_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(a stage's exported weights, its done.json without the hash); the weights are checked against the sha256 in
    done.json where there is one (a stage finished before exports were hashed, or not finished, has none)."""
    done_path, path = stage_dir / DONE_FILE, stage_dir / EXPORT_FILE
    done: dict[str, Any] = {}
    if done_path.exists():
        try:
            done = json.loads(done_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise CheckpointError(f"cannot read {done_path} ({error}); delete it and rerun with --resume to finish "
                                  "the stage again from its last checkpoint") from error
    expected = done.pop("student_sha256", None)
    if expected is not None and (not path.exists() or sha256_of(path) != expected):
        raise CheckpointError(f"{path} is missing or does not match the sha256 in {done_path} (changed after the "
                              f"stage finished); delete {done_path} and rerun with --resume to export it again "
                              "from the last checkpoint")
    return load_weights(path), done


def fit_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    """``model.load_state_dict(weights)``, with a one-line error when the architecture does not fit the file."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit {type(model).__name__} ({first_line(error)}); was the recipe's "
                              "model changed? use the run folder with its own config.yaml, or a new one") from error


def first_line(error: Exception) -> str:
    """The first informative line of a (possibly multi-line) error, e.g. a load_state_dict mismatch."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else type(error).__name__)
