"""Building a teacher cache: one teacher pass over every (sample, view), written shard by shard.

Resumable: complete shards (record present, fingerprint and hashes match) are skipped, so an interrupted build
continues where it stopped. Parallel: rank r of W builds shards r, r + W, ... and all ranks meet at a barrier.
A cache built from other weights, data or settings is rebuilt (``on_mismatch="rebuild"``, with a warning) or
refused (``"error"``) - never served.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from kdistill.atomic import atomic_path, atomic_write_text
from kdistill.cache.codec import FORMATS, encode, stored_arrays
from kdistill.cache.fingerprint import cache_fingerprint, describe_mismatch
from kdistill.cache.store import MANIFEST, read_json, shard_problem, shard_stem
from kdistill.cache.views import apply_view, view_shifts, view_warps
from kdistill.data.warp_options import WarpOptions
from kdistill.errors import CheckpointError, ConfigError
from kdistill.evaluation._modes import eval_mode
from kdistill.training.checkpoint import sha256_of

log = logging.getLogger("kdistill")


@dataclass
class CacheSettings:
    """What the cache stores. ``temperature`` is the one the top-k fill is exact at (use the distillation T)."""

    format: str = "full"  # full | topk
    topk: int = 10
    temperature: float = 1.0
    views: int = 4  # stored augmentations per sample (1 when there is no jitter)
    features: tuple[str, ...] = ()  # teacher module names whose outputs are stored too
    shard_size: int = 4096  # samples per shard file

    def __post_init__(self) -> None:
        if self.format not in FORMATS or self.topk < 1 or self.views < 1 or self.shard_size < 1:
            raise ConfigError(f"invalid cache settings {self}: format must be full or topk, topk/views/shard_size "
                              ">= 1")
        if self.temperature <= 0:
            raise ConfigError(f"cache temperature must be > 0, got {self.temperature}")

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "topk": self.topk if self.format == "topk" else None,
                "temperature": self.temperature if self.format == "topk" else None,
                "features": list(self.features), "shard_size": self.shard_size}


@dataclass
class BuildStats:
    seconds: float
    built_shards: int
    skipped_shards: int


def build_cache(
    folder: str | Path,
    teacher: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: CacheSettings,
    dataset: str = "unknown",
    max_shift: int = 0,
    seed: int = 0,
    batch_size: int = 1024,
    on_mismatch: str = "rebuild",
    rank: int = 0,
    world_size: int = 1,
    device: str | torch.device = "cpu",
    progress: bool = True,
    warp: WarpOptions | None = None,
) -> BuildStats:
    """Compute ``teacher`` on every view of ``images`` (N, C, H, W) and store it in ``folder``.

    ``teacher`` is the raw network (not a Teacher wrapper); it is run in eval mode without autograd. ``warp``
    (optional) distorts every view before its shift (:func:`kdistill.cache.views.apply_view`). With ``max_shift == 0``
    and no warp every view would be identical, so one view is stored.
    """
    if on_mismatch not in ("rebuild", "error"):
        raise ConfigError(f"cache on_mismatch must be rebuild or error, got {on_mismatch!r}")
    folder = Path(folder)
    started = time.perf_counter()
    warp = warp if warp is not None and warp.active else None
    views = settings.views if max_shift > 0 or warp is not None else 1
    transform = {"jitter": max_shift, "views": views, "view_seed": seed}
    if warp is not None:  # only then: caches built without a warp keep their fingerprint
        transform["warp"] = dataclasses.asdict(warp)
    teacher.to(device)
    probe = probe_outputs(teacher, images[:1].to(device), settings.features)
    output_shapes = {name: tuple(output.shape[1:]) for name, output in probe.items()}
    fingerprint, parts = cache_fingerprint(teacher, dataset, images, labels, transform, settings.as_dict(),
                                           output_shapes)
    num_classes = int(probe["logits"].shape[-1])
    arrays = stored_arrays(settings.format, num_classes, settings.topk)
    arrays.update({f"feature.{name}": ("float16", tuple(probe[name].shape[1:])) for name in settings.features})
    manifest = {
        "fingerprint": fingerprint, "fingerprint_parts": parts, "settings": settings.as_dict(),
        "num_samples": len(labels), "num_classes": num_classes, "views": views, "max_shift": max_shift,
        "warp": transform.get("warp"), "seed": seed, "shard_size": settings.shard_size, "num_shards": -(-len(labels) // settings.shard_size),
        "arrays": {name: [dtype, list(shape)] for name, (dtype, shape) in arrays.items()},
    }
    if rank == 0:
        prepare_folder(folder, manifest, on_mismatch)
    barrier(world_size)
    manifest = read_json(folder / MANIFEST) or manifest  # the JSON round trip, as readers will see it
    mine = range(rank, manifest["num_shards"], world_size)
    todo = [shard for shard in mine if shard_problem(folder, shard, manifest) is not None]
    total = sum(min(settings.shard_size, len(labels) - s * settings.shard_size) for s in todo) * views
    with tqdm(total=total, desc="teacher cache", unit="view", disable=None if progress and rank == 0 else True,
              mininterval=0.5) as bar:
        for shard in todo:
            write_shard(folder, shard, manifest, teacher, images, batch_size, device, bar)
    barrier(world_size)
    seconds = time.perf_counter() - started
    log.info("teacher cache %s: built %d shard(s), reused %d, %.1fs", folder, len(todo), len(mine) - len(todo),
             seconds)
    return BuildStats(seconds, len(todo), len(mine) - len(todo))


def prepare_folder(folder: Path, manifest: dict[str, Any], on_mismatch: str) -> None:
    """Write the manifest; a cache with another fingerprint is refused or deleted first (never reused)."""
    existing = read_json(folder / MANIFEST)
    if (folder / MANIFEST).exists() and existing is None:
        existing = {"fingerprint": "unreadable", "fingerprint_parts": {}}
    if existing is not None and existing.get("fingerprint") != manifest["fingerprint"]:
        changed = describe_mismatch(existing.get("fingerprint_parts", {}), manifest["fingerprint_parts"])
        if on_mismatch == "error":
            raise CheckpointError(f"teacher cache {folder} was built from different {changed}; delete the folder or "
                                  "set distill.cache.on_mismatch=rebuild to rebuild it")
        log.warning("teacher cache %s is stale (changed: %s): rebuilding it", folder, changed)
        for path in folder.glob("shard-*"):
            path.unlink()
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))


def write_shard(
    folder: Path, shard: int, manifest: dict[str, Any], teacher: nn.Module, images: torch.Tensor, batch_size: int,
    device: str | torch.device, bar: tqdm,
) -> None:
    size = manifest["shard_size"]
    start, stop = shard * size, min((shard + 1) * size, manifest["num_samples"])
    settings, views = manifest["settings"], manifest["views"]
    names = [name[len("feature."):] for name in manifest["arrays"] if name.startswith("feature.")]
    out = {name: np.empty((stop - start, views, *shape), dtype=dtype)
           for name, (dtype, shape) in manifest["arrays"].items()}
    warp = manifest_warp(manifest)
    for view in range(views):
        shifts = view_shifts(manifest["num_samples"], manifest["max_shift"], manifest["seed"], view)[start:stop]
        warps = view_warps(manifest["num_samples"], warp, manifest["seed"], view)
        for offset in range(0, stop - start, batch_size):
            chunk = slice(offset, min(offset + batch_size, stop - start))
            ids = torch.arange(start + chunk.start, start + chunk.stop)  # (b,) sample ids
            inputs = apply_view(images[ids], shifts[chunk], None if warps is None else warps.select(ids))
            outputs = probe_outputs(teacher, inputs.to(device), names)
            encoded = encode(outputs["logits"], settings["format"], settings["topk"] or 1,
                             settings["temperature"] or 1.0)
            encoded.update({f"feature.{n}": outputs[n].float().cpu().numpy().astype(np.float16) for n in names})
            for name, values in encoded.items():
                out[name][chunk, view] = values
            bar.update(chunk.stop - chunk.start)
    digests = {}
    for name, values in out.items():
        file = f"{shard_stem(shard)}.{name}.npy"
        with atomic_path(folder / file) as temporary, open(temporary, "wb") as handle:
            np.save(handle, values)
        digests[file] = sha256_of(folder / file)
    record = {"fingerprint": manifest["fingerprint"], "samples": [start, stop], "sha256": digests}
    atomic_write_text(folder / f"{shard_stem(shard)}.json", json.dumps(record, indent=2))


def manifest_warp(manifest: dict[str, Any]) -> WarpOptions | None:
    """The warp a cache's views were built with (None for caches without one, including older caches)."""
    return WarpOptions(**manifest["warp"]) if manifest.get("warp") else None


def probe_outputs(teacher: nn.Module, inputs: torch.Tensor, features: tuple[str, ...] | list[str]) -> dict:
    """{"logits": (B, C), <module name>: that module's output} from one eval-mode, no-grad forward pass."""
    captured: dict[str, torch.Tensor] = {}
    with capture(teacher, features, captured), eval_mode(teacher), torch.inference_mode():
        captured["logits"] = teacher(inputs)
    return captured


@contextmanager
def capture(model: nn.Module, names: tuple[str, ...] | list[str], into: dict[str, torch.Tensor]) -> Iterator[None]:
    """Forward hooks that store the outputs of the named modules; removed on exit."""
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules]
    if missing:
        raise ConfigError(f"teacher has no module(s) {missing}; valid names include "
                          f"{[n for n in modules if n][:12]}")
    handles = [modules[name].register_forward_hook(lambda _m, _i, out, name=name: into.__setitem__(name, out))
               for name in names]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def barrier(world_size: int) -> None:
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()

