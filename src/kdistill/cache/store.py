"""The on-disk teacher cache and its memory-mapped reader.

Layout of a cache folder::

    manifest.json                   fingerprint (+ its parts), settings, sizes, the arrays each shard holds
    shard-00003.logits.npy          (n, V, C) float16 for samples [3·S, 3·S + n), every view   (format "full")
    shard-00003.topk_values.npy     (n, V, k) float16 / .topk_indices.npy int16 / .topk_fill.npy (n, V)  ("topk")
    shard-00003.feature.<name>.npy  (n, V, *shape) float16: a named intermediate output, if the recipe asks for it
    shard-00003.json                {"fingerprint", "samples": [start, stop], "sha256": {file: digest}}: written last

Every file is written atomically and a shard counts as built only when its record exists, matches the fingerprint
and every file matches its sha256: a killed build resumes at the first missing shard, and a truncated or edited shard
is detected, never served.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdistill.cache.codec import decode
from kdistill.errors import CheckpointError
from kdistill.training.checkpoint import sha256_of

MANIFEST = "manifest.json"
RELEASE_EVERY_BYTES = 64 << 20  # drop mapped pages from this process every 64 MiB read, so RSS stays bounded


def shard_stem(shard: int) -> str:
    return f"shard-{shard:05d}"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def shard_problem(folder: Path, shard: int, manifest: dict[str, Any], check_hash: bool = True) -> str | None:
    """None when shard ``shard`` is completely built for this manifest; else what is wrong with it."""
    record = read_json(folder / f"{shard_stem(shard)}.json")
    if record is None:
        return "not built"
    if record.get("fingerprint") != manifest["fingerprint"]:
        return "built for another fingerprint"
    for name in manifest["arrays"]:
        file = f"{shard_stem(shard)}.{name}.npy"
        if file not in record.get("sha256", {}) or not (folder / file).exists():
            return f"{file} is missing"
        if check_hash and sha256_of(folder / file) != record["sha256"][file]:
            return f"{file} is truncated or corrupt (sha256 mismatch)"
    return None


class TeacherCache:
    """Read-only view of a complete cache folder; raises CheckpointError if it is incomplete, stale or corrupt.

    ``expected_fingerprint`` (optional) refuses a cache built from other teacher weights, data or settings.
    ``verify=True`` hashes every shard once on opening (cheap next to a training epoch).
    """

    def __init__(self, folder: str | Path, expected_fingerprint: str | None = None, verify: bool = True):
        self.folder = Path(folder)
        manifest = read_json(self.folder / MANIFEST)
        if manifest is None:
            raise CheckpointError(f"no teacher cache at {self.folder} (missing or unreadable {MANIFEST}); build it "
                                  "with `kdistill cache build RECIPE` or set distill.cache.enabled=true")
        if expected_fingerprint is not None and manifest["fingerprint"] != expected_fingerprint:
            raise CheckpointError(f"teacher cache {self.folder} is stale (built from other teacher weights, data or "
                                  "cache settings); rebuild it with `kdistill cache build RECIPE` or delete it")
        for shard in range(manifest["num_shards"]):
            problem = shard_problem(self.folder, shard, manifest, check_hash=verify)
            if problem is not None:
                raise CheckpointError(f"teacher cache {self.folder} shard {shard}: {problem}; rerun `kdistill cache "
                                      "build RECIPE` to rebuild the missing or damaged shards")
        self.manifest = manifest
        self.format: str = manifest["settings"]["format"]
        self.num_samples: int = manifest["num_samples"]
        self.num_classes: int = manifest["num_classes"]
        self.views: int = manifest["views"]
        self.shard_size: int = manifest["shard_size"]
        self.features: list[str] = list(manifest["settings"]["features"])
        self._maps: dict[tuple[int, str], np.ndarray] = {}
        self._bytes_since_release = 0

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    def size_bytes(self, include_features: bool = True) -> int:
        names = [n for n in self.manifest["arrays"] if include_features or not n.startswith("feature.")]
        return sum((self.folder / f"{shard_stem(s)}.{n}.npy").stat().st_size
                   for s in range(self.manifest["num_shards"]) for n in names)

    def bytes_per_sample(self, include_features: bool = False) -> float:
        """Payload bytes per sample (all views), without the .npy headers."""
        total = 0
        for name, (dtype, shape) in self.manifest["arrays"].items():
            if include_features or not name.startswith("feature."):
                total += np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)) * self.views
        return float(total)

    def _array(self, shard: int, name: str) -> np.ndarray:
        key = (shard, name)
        if key not in self._maps:
            self._maps[key] = np.load(self.folder / f"{shard_stem(shard)}.{name}.npy", mmap_mode="r")
        return self._maps[key]

    def read(self, name: str, index: torch.Tensor, view: torch.Tensor) -> np.ndarray:
        """Stored array ``name`` for samples ``index`` (B,) at views ``view`` (B,) -> (B, *per-view shape)."""
        index_np, view_np = index.cpu().numpy(), view.cpu().numpy()
        if index_np.size and (index_np.min() < 0 or index_np.max() >= self.num_samples
                              or view_np.min() < 0 or view_np.max() >= self.views):
            raise CheckpointError(f"cache lookup out of range (samples < {self.num_samples}, views < {self.views}); "
                                  "the cache was built for another training set: rebuild it")
        dtype, shape = self.manifest["arrays"][name]
        out = np.empty((len(index_np), *shape), dtype=dtype)
        shards = index_np // self.shard_size
        for shard in np.unique(shards):
            rows = np.nonzero(shards == shard)[0]
            out[rows] = self._array(int(shard), name)[index_np[rows] - shard * self.shard_size, view_np[rows]]
        self._bytes_since_release += out.nbytes
        if self._bytes_since_release > RELEASE_EVERY_BYTES:
            self.release_pages()
        return out

    def release_pages(self) -> None:
        """Drop this process's mapped pages (they stay in the OS page cache): reading streams, RSS stays flat."""
        for array in self._maps.values():
            handle = getattr(array, "_mmap", None)
            if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                handle.madvise(mmap.MADV_DONTNEED)
        self._bytes_since_release = 0

    def logits(self, index: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """Dequantised teacher logits (B, C) float32 for samples ``index`` at views ``view``."""
        arrays = {name: self.read(name, index, view) for name in self.manifest["arrays"]
                  if not name.startswith("feature.")}
        return decode(arrays, self.format, self.num_classes)

    def feature(self, name: str, index: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """The stored output of teacher module ``name`` (B, *shape) float32."""
        if name not in self.features:
            raise CheckpointError(f"the teacher cache stores no feature '{name}' (it has {self.features or 'none'}); "
                                  "add it to distill.cache.features and rebuild")
        return torch.from_numpy(self.read(f"feature.{name}", index, view).astype(np.float32))
