"""Per-epoch checkpoints that survive being killed at any moment.

Layout inside a stage directory::

    checkpoints/epoch-0003.safetensors   student.* and strategy.* tensors (weights: safetensors, never pickle)
    checkpoints/epoch-0003.state.pt      optimizer + scheduler state, history (loaded with weights_only=True)
    checkpoints/latest.json              {"epoch": 3, files and their sha256}: written last, atomically

Each file is written atomically and ``latest.json`` only points at a complete pair, so a run killed mid-save resumes
from the previous epoch. A checkpoint whose hash does not match, or that does not load, raises a CheckpointError.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from kdistill.atomic import atomic_path, atomic_write_text
from kdistill.errors import CheckpointError
from kdistill.strategies import load_trainable_state, trainable_state


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
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


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
    save_weights(folder / f"{stem}.safetensors", weights, {"epoch": str(state.epoch)})
    with atomic_path(folder / f"{stem}.state.pt") as temporary:
        torch.save(state.__dict__, temporary)
    pointer = {
        "epoch": state.epoch,
        "weights": f"{stem}.safetensors",
        "state": f"{stem}.state.pt",
        "sha256": {name: sha256_of(folder / name) for name in (f"{stem}.safetensors", f"{stem}.state.pt")},
    }
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
        raise CheckpointError(f"checkpoint in {folder} does not fit this model ({str(error).splitlines()[0]}); "
                              "was the recipe changed? start a new run directory") from error
    try:
        raw = torch.load(folder / pointer["state"], weights_only=True)
    except Exception as error:  # torch raises several types for a bad file
        raise CheckpointError(f"cannot read {folder / pointer['state']} ({error}); delete the checkpoints "
                              "folder to restart this stage") from error
    return TrainingState(**raw)
