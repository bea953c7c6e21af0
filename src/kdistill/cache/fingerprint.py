"""What a teacher cache was built from: a cache is only served if every part still matches.

The fingerprint is the sha256 of a JSON object holding the sha256 of the teacher's weights, the shapes of the teacher's
outputs it stores (so a change of the model's code that keeps its weights - a pooling moved - still invalidates the
cache), the dataset's name and
the sha256 of the exact training images and labels (the cache is keyed by index into them), the augmentation
(jitter, views, view seed), the cache settings (format, top-k, temperature, features) and the format version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from torch import nn

FORMAT_VERSION = 1


def tensor_sha256(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{tensor.dtype}:{tensor.numel()}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def module_sha256(module: nn.Module) -> str:
    """sha256 of a module's state dict (names, dtypes, shapes and bytes), independent of the device it is on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        digest.update(tensor_sha256(tensor).encode())
    return digest.hexdigest()


def cache_fingerprint(
    teacher: nn.Module, dataset: str, images: torch.Tensor, labels: torch.Tensor, transform: dict[str, Any],
    settings: dict[str, Any], output_shapes: dict[str, tuple[int, ...]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """(hex fingerprint, the parts it hashes) - the parts go into the manifest so a mismatch can be explained.

    ``output_shapes``: per-sample shape of each stored teacher output (logits, feature layers) on these images.
    """
    parts = {
        "format_version": FORMAT_VERSION,
        "teacher_sha256": module_sha256(teacher),
        "teacher_output_shapes": {name: list(shape) for name, shape in sorted((output_shapes or {}).items())},
        "dataset": dataset,
        "data_sha256": tensor_sha256(images, labels),
        "transform": transform,
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest(), parts


def describe_mismatch(stored: dict[str, Any], current: dict[str, Any]) -> str:
    """Which fingerprint parts differ, e.g. 'teacher_sha256, settings'."""
    keys = sorted(set(stored) | set(current))
    return ", ".join(key for key in keys if stored.get(key) != current.get(key)) or "unknown"
