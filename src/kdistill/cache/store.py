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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdistill.cache.codec import decode
from kdistill.cache.mapped import ShardFiles
from kdistill.errors import CheckpointError
from kdistill.training.checkpoint import sha256_of

MANIFEST = "manifest.json"
TABLE_BUDGET_BYTES = 256 << 20  # one view's decoded logits up to this size are kept in memory for the epoch


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
    ``table_budget_bytes``: largest (N, C) float32 logits table of one view kept decoded in memory.
    """

    def __init__(
        self,
        folder: str | Path,
        expected_fingerprint: str | None = None,
        verify: bool = True,
        table_budget_bytes: int = TABLE_BUDGET_BYTES,
    ):
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
        self.table_budget_bytes = table_budget_bytes
        self._shards = ShardFiles(self.folder)
        self._table: torch.Tensor | None = None  # (N, C) float32 logits of view ``_table_view``
        self._table_view = -1

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

    def read(self, name: str, index: torch.Tensor, view: torch.Tensor) -> np.ndarray:
        """Stored array ``name`` for samples ``index`` (B,) at views ``view`` (B,) -> (B, *per-view shape).

        Rows are read with ``pread`` per shard the batch touches, in sorted row order (reads move forward through
        each file); no file page enters this process's RSS (see ``kdistill.cache.mapped``).
        """
        index_np, view_np = index.cpu().numpy(), view.cpu().numpy()
        if index_np.size and (index_np.min() < 0 or index_np.max() >= self.num_samples
                              or view_np.min() < 0 or view_np.max() >= self.views):
            raise self.out_of_range_error()
        dtype, shape = self.manifest["arrays"][name]
        out = np.empty((len(index_np), *shape), dtype=dtype)
        order = np.argsort(index_np, kind="stable")  # (B,) positions in sample order
        shard_of = index_np[order] // self.shard_size  # (B,) non-decreasing
        starts = np.flatnonzero(np.r_[True, shard_of[1:] != shard_of[:-1]])  # where each shard's run begins
        for begin, end in zip(starts, np.r_[starts[1:], len(order)]):
            positions = order[begin:end]
            shard = int(shard_of[begin])
            rows = (index_np[positions] - shard * self.shard_size) * self.views + view_np[positions]
            run = np.empty((len(rows), *shape), dtype=dtype)
            self._shards.gather(shard_stem(shard), name, rows, run)  # pread: nothing is mapped, RSS stays flat
            out[positions] = run
        return out

    def release_pages(self) -> None:
        """Drop this process's mapped pages of bulk reads (they stay in the OS page cache)."""
        self._shards.release()

    def view_logits(self, view: int) -> torch.Tensor:
        """Dequantised teacher logits of every sample at one view, (N, C) float32; kept until another view is asked.

        Decoded shard by shard, each shard's pages released right after, so building the table maps one shard's
        worth of pages at a time.
        """
        if self._table_view != view:
            if not 0 <= view < self.views:
                raise self.out_of_range_error()
            self._table = None  # free the previous view's table before the next one is allocated
            table = torch.empty(self.num_samples, self.num_classes, dtype=torch.float32)
            names = [name for name in self.manifest["arrays"] if not name.startswith("feature.")]
            for shard in range(self.manifest["num_shards"]):
                start = shard * self.shard_size
                arrays = {name: self._shards.mapped(shard_stem(shard), name)[view :: self.views] for name in names}
                stop = start + len(next(iter(arrays.values())))
                table[start:stop] = decode(arrays, self.format, self.num_classes)
                self._shards.release()
            self._table, self._table_view = table, view
        return self._table

    def logits(self, index: torch.Tensor, view: torch.Tensor | int) -> torch.Tensor:
        """Dequantised teacher logits (B, C) float32 for samples ``index`` at views ``view`` ((B,), or one int).

        A batch of one view (what CachedViewLoader yields) is a single ``index_select`` from that view's decoded
        table; mixed views, or a table larger than ``table_budget_bytes``, are read and decoded per batch.
        """
        if isinstance(view, torch.Tensor):
            view = self.single_view(view) if view.numel() else view
        if isinstance(view, int) and self.table_fits():
            try:
                return self.view_logits(view).index_select(0, index.cpu())
            except IndexError as error:
                raise self.out_of_range_error() from error
        if isinstance(view, int):
            view = torch.full_like(index, view)
        arrays = {name: self.read(name, index, view) for name in self.manifest["arrays"]
                  if not name.startswith("feature.")}
        return decode(arrays, self.format, self.num_classes)

    def table_fits(self, tables: int = 1) -> bool:
        """Whether ``tables`` (N, C) float32 tables fit ``table_budget_bytes`` together: one view's decoded logits,
        plus the copies a loader gathers from it for the epoch (CachedViewLoader asks for all it will hold)."""
        return tables * self.num_samples * self.num_classes * 4 <= self.table_budget_bytes

    def single_view(self, view: torch.Tensor) -> int | torch.Tensor:
        """The one view id a non-empty (B,) ``view`` holds, else ``view`` itself; ids out of range are refused."""
        low, high = (int(value) for value in torch.aminmax(view))
        if low < 0 or high >= self.views:
            raise self.out_of_range_error()
        return low if low == high else view

    def out_of_range_error(self) -> CheckpointError:
        return CheckpointError(f"cache lookup out of range (samples < {self.num_samples}, views < {self.views}); "
                               "the cache was built for another training set: rebuild it")

    def feature(self, name: str, index: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        """The stored output of teacher module ``name`` (B, *shape) float32."""
        if name not in self.features:
            raise CheckpointError(f"the teacher cache stores no feature '{name}' (it has {self.features or 'none'}); "
                                  "add it to distill.cache.features and rebuild")
        return torch.from_numpy(self.read(f"feature.{name}", index, view).astype(np.float32))
