"""A language-model teacher cache: the top-k next-token log-probs of every token of every training sequence.

    cache = build_sequence_cache("cache/lm", teacher_logits, token_blocks, k=64, value_format="int8",
                                 fingerprint={"teacher_sha256": ..., "corpus": "news"})
    cache = SequenceCache.open("cache/lm", expected_fingerprint={"teacher_sha256": ..., "corpus": "news"})
    sparse = cache.lookup(batch["index"])            # TopKLogProbs (b, T, k): the teacher for token_divergence

Layout of a cache folder (the image cache's conventions - ``kdistill.cache.store``)::

    manifest.json                 fingerprint (+ its parts), k, value format, sizes, the arrays each shard holds
    shard-00003.indices.npy       (n, T, k) uint16 / int32: token ids of sequences [3·S, 3·S + n)
    shard-00003.values.npy        (n, T, k) float16 log-probs          ("fp16"; "full": (n, T, V), no indices)
    shard-00003.codes.npy         (n, T, k) uint8 + .quant.npy (n, T, 2) float32   ("int8"; see sequence_codec)
    shard-00003.json              {"fingerprint", "samples": [start, stop], "sha256": {file: digest}}: written last

Every file is written atomically and a shard counts as built only when its record exists, matches the fingerprint
and every file matches its sha256: a killed build resumes at the first missing shard, and a truncated or edited shard
is detected on opening (one error naming the file and the fix), never served. Files are memory-mapped ``.npy`` (no
pickle). The fingerprint hashes the caller's ``fingerprint`` dict (teacher weights, corpus, ...), the exact token
blocks, k and the value format.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from kdistill.atomic import atomic_path, atomic_write_text, remove_stale_temporaries
from kdistill.cache.fingerprint import describe_mismatch, tensor_sha256
from kdistill.cache.sequence_codec import VALUE_FORMATS, decode, encode, stored_arrays
from kdistill.cache.store import (
    MANIFEST,
    RELEASE_EVERY_BYTES,
    read_json,
    shard_problem,
    shard_stem,
)
from kdistill.errors import CheckpointError, ConfigError, ShapeError
from kdistill.losses.token_divergence import TopKLogProbs
from kdistill.training.checkpoint import sha256_of

log = logging.getLogger("kdistill")
SEQUENCE_FORMAT_VERSION = 1
REBUILD_HINT = ("rerun build_sequence_cache on it with the same teacher and token blocks (complete shards are kept, "
                "missing or damaged ones rebuilt) or delete the folder")


def json_normalised(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The dict as it reads back from JSON (tuples become lists), so stored and expected compare equal."""
    if not isinstance(fingerprint, dict):
        raise ConfigError(f"the cache fingerprint must be a dict (teacher, corpus, ...), got {type(fingerprint)}")
    try:
        return json.loads(json.dumps(fingerprint, sort_keys=True))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"the cache fingerprint must hold JSON values (str, numbers, lists, dicts): {error}",
                          ) from None


def flat_parts(parts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"source": {"teacher": ..}} -> {"source.teacher": ..}: so a mismatch names the exact key."""
    flat = {}
    for key, value in parts.items():
        if isinstance(value, dict) and value:
            flat.update(flat_parts(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_build_arguments(token_blocks: torch.Tensor, k: int, value_format: str, batch_size: int,
                           shard_sequences: int) -> None:
    if value_format not in VALUE_FORMATS:
        raise ConfigError(f"unknown value_format {value_format!r}; choose one of {', '.join(VALUE_FORMATS)}")
    if not isinstance(token_blocks, torch.Tensor) or token_blocks.dim() != 2 or token_blocks.is_floating_point():
        shape = tuple(token_blocks.shape) if isinstance(token_blocks, torch.Tensor) else type(token_blocks)
        raise ShapeError(f"token_blocks must be an integer tensor (N sequences, T tokens), got {shape}")
    if len(token_blocks) == 0 or token_blocks.shape[1] == 0:
        raise ShapeError(f"token_blocks {tuple(token_blocks.shape)} holds no tokens; pass the training sequences")
    for name, value in (("k", k), ("batch_size", batch_size), ("shard_sequences", shard_sequences)):
        if not (isinstance(value, int) and value >= 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _teacher_batch(teacher_logits: Callable, block: torch.Tensor, vocab_size: int | None) -> torch.Tensor:
    """Run the teacher on (b, T) ids without autograd and check it returned (b, T, V)."""
    with torch.inference_mode():
        logits = teacher_logits(block)
    expected = (*block.shape, vocab_size if vocab_size is not None else "V")
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or tuple(logits.shape[:2]) != tuple(block.shape) \
            or (vocab_size is not None and logits.shape[-1] != vocab_size):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ShapeError(f"teacher_logits must map (b, T) token ids to (b, T, V) logits: expected {expected}, "
                         f"got {got}")
    return logits


def build_sequence_cache(directory: str | Path, teacher_logits: Callable[[torch.Tensor], torch.Tensor],
                         token_blocks: torch.Tensor, *, k: int = 64, value_format: str = "fp16", batch_size: int = 8,
                         shard_sequences: int = 1024, fingerprint: dict, progress: bool = True) -> SequenceCache:
    """Run ``teacher_logits`` over ``token_blocks`` (N, T) int64 in batches and store its top-k per token.

    ``teacher_logits`` maps (b, T) ids to (b, T, V) logits (called under ``torch.inference_mode``). ``fingerprint``
    describes the teacher and data (e.g. weights sha256, corpus, split); together with the token blocks' sha256, k and
    the value format it keys the cache. A folder holding another fingerprint is rebuilt (with a warning naming what
    changed); complete shards of the same fingerprint are kept, so an interrupted build resumes.
    """
    _check_build_arguments(token_blocks, k, value_format, batch_size, shard_sequences)
    directory = Path(directory)
    num_sequences, length = token_blocks.shape
    vocab_size = int(_teacher_batch(teacher_logits, token_blocks[:1], None).shape[-1])
    if value_format != "full" and k > vocab_size:
        raise ConfigError(f"k={k} exceeds the teacher's vocabulary of {vocab_size} tokens; use k <= {vocab_size}")
    stored_k = vocab_size if value_format == "full" else k
    parts = {"format_version": SEQUENCE_FORMAT_VERSION, "source": json_normalised(fingerprint),
             "tokens_sha256": tensor_sha256(token_blocks.long()),
             "settings": {"k": stored_k, "value_format": value_format, "vocab_size": vocab_size}}
    arrays = stored_arrays(value_format, stored_k, vocab_size, length)
    manifest = {
        "kind": "sequences", "fingerprint": hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest(),
        "fingerprint_parts": parts, "num_sequences": num_sequences, "sequence_length": length,
        "vocab_size": vocab_size, "k": stored_k, "value_format": value_format, "shard_sequences": shard_sequences,
        "num_shards": -(-num_sequences // shard_sequences),
        "arrays": {name: [dtype, list(shape)] for name, (dtype, shape) in arrays.items()},
    }
    _prepare_folder(directory, manifest)
    manifest = read_json(directory / MANIFEST)  # the JSON round trip, as readers will see it
    todo = [shard for shard in range(manifest["num_shards"]) if shard_problem(directory, shard, manifest) is not None]
    total = sum(min(shard_sequences, num_sequences - shard * shard_sequences) for shard in todo)
    with tqdm(total=total, desc="sequence cache", unit="seq", disable=None if progress else True,
              mininterval=0.5) as bar:
        for shard in todo:
            _write_shard(directory, shard, manifest, teacher_logits, token_blocks, batch_size, bar)
    log.info("sequence cache %s: built %d shard(s), reused %d", directory, len(todo),
             manifest["num_shards"] - len(todo))
    return SequenceCache.open(directory, verify=False)  # every shard was just hashed by shard_problem or written


def _prepare_folder(directory: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest; shards of another fingerprint are deleted first (never mixed with the new ones)."""
    existing = read_json(directory / MANIFEST)
    if (directory / MANIFEST).exists() and existing is None:
        existing = {"fingerprint": "unreadable", "fingerprint_parts": {}}
    if existing is not None and existing.get("fingerprint") != manifest["fingerprint"]:
        changed = describe_mismatch(flat_parts(existing.get("fingerprint_parts", {})),
                                    flat_parts(manifest["fingerprint_parts"]))
        log.warning("sequence cache %s was built from different %s: rebuilding it", directory, changed)
        for path in directory.glob("shard-*"):
            path.unlink()
    if directory.exists():
        remove_stale_temporaries(directory)  # leftovers of a killed build's atomic writes
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2))


def _write_shard(directory: Path, shard: int, manifest: dict[str, Any], teacher_logits: Callable,
                 token_blocks: torch.Tensor, batch_size: int, bar: tqdm) -> None:
    size = manifest["shard_sequences"]
    start, stop = shard * size, min((shard + 1) * size, manifest["num_sequences"])
    out = {name: np.empty((stop - start, *shape), dtype=dtype) for name, (dtype, shape) in manifest["arrays"].items()}
    for offset in range(start, stop, batch_size):
        block = token_blocks[offset : min(offset + batch_size, stop)].long()  # (b, T)
        logits = _teacher_batch(teacher_logits, block, manifest["vocab_size"])
        for name, values in encode(logits, manifest["value_format"], manifest["k"]).items():
            out[name][offset - start : offset - start + len(block)] = values
        bar.update(len(block))
    digests = {}
    for name, values in out.items():
        file = f"{shard_stem(shard)}.{name}.npy"
        with atomic_path(directory / file) as temporary, open(temporary, "wb") as handle:
            np.save(handle, values)
        digests[file] = sha256_of(directory / file)
    record = {"fingerprint": manifest["fingerprint"], "samples": [start, stop], "sha256": digests}
    atomic_write_text(directory / f"{shard_stem(shard)}.json", json.dumps(record, indent=2))


class SequenceCache:
    """Read-only, memory-mapped view of a complete sequence cache. Open it with :meth:`open`."""

    def __init__(self, directory: Path, manifest: dict[str, Any]):
        self.directory, self.manifest = directory, manifest
        self.k: int = manifest["k"]
        self.vocab_size: int = manifest["vocab_size"]
        self.sequence_length: int = manifest["sequence_length"]
        self.value_format: str = manifest["value_format"]
        self.shard_sequences: int = manifest["shard_sequences"]
        self._maps: dict[tuple[int, str], np.ndarray] = {}
        self._bytes_since_release = 0

    def __getstate__(self) -> dict[str, Any]:
        # a DataLoader worker gets the folder and manifest and maps the files itself (a pickled memmap is a copy)
        return {**self.__dict__, "_maps": {}, "_bytes_since_release": 0}

    @classmethod
    def open(cls, directory: str | Path, expected_fingerprint: dict | None = None, verify: bool = True,
             ) -> SequenceCache:
        """Open a built cache; CheckpointError if it is missing, incomplete, corrupt or built from something else.

        ``expected_fingerprint``: the dict given to ``build_sequence_cache``; a mismatch names the differing keys.
        ``verify``: hash every shard file once (a truncated or edited file is reported by name).
        """
        directory = Path(directory)
        manifest = read_json(directory / MANIFEST)
        if manifest is None or manifest.get("kind") != "sequences":
            what = f"missing or unreadable {MANIFEST}" if manifest is None else "it holds an image teacher cache"
            raise CheckpointError(f"no sequence cache at {directory} ({what}); build one with build_sequence_cache")
        if expected_fingerprint is not None:
            stored = manifest["fingerprint_parts"]["source"]
            expected = json_normalised(expected_fingerprint)
            if stored != expected:
                raise CheckpointError(f"sequence cache {directory} was built from different "
                                      f"{describe_mismatch(stored, expected)}; {REBUILD_HINT}")
        for shard in range(manifest["num_shards"]):
            problem = shard_problem(directory, shard, manifest, check_hash=verify)
            if problem is not None:
                raise CheckpointError(f"sequence cache {directory} shard {shard}: {problem}; {REBUILD_HINT}")
        return cls(directory, manifest)

    def __len__(self) -> int:
        return self.manifest["num_sequences"]

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    def bytes_per_token(self) -> float:
        """Bytes on disk (every shard file and record, and the manifest) per stored token, N · T."""
        files = [self.directory / MANIFEST]
        for shard in range(self.manifest["num_shards"]):
            files.append(self.directory / f"{shard_stem(shard)}.json")
            files += [self.directory / f"{shard_stem(shard)}.{name}.npy" for name in self.manifest["arrays"]]
        return sum(file.stat().st_size for file in files) / (len(self) * self.sequence_length)

    def _array(self, shard: int, name: str) -> np.ndarray:
        key = (shard, name)
        if key not in self._maps:
            path = self.directory / f"{shard_stem(shard)}.{name}.npy"
            dtype, shape = self.manifest["arrays"][name]
            try:
                array = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as error:
                raise CheckpointError(f"cannot read {path} ({error}); {REBUILD_HINT}") from None
            start, stop = shard * self.shard_sequences, min((shard + 1) * self.shard_sequences, len(self))
            if array.dtype != np.dtype(dtype) or array.shape != (stop - start, *shape):
                raise CheckpointError(f"{path} holds {array.dtype} {array.shape}, expected {dtype} "
                                      f"{(stop - start, *shape)}; {REBUILD_HINT}")
            self._maps[key] = array
        return self._maps[key]

    def lookup(self, sequence_indices: torch.Tensor) -> TopKLogProbs:
        """The stored teacher for sequences ``sequence_indices`` (b,) -> TopKLogProbs, (b, T, k) float32 and int64.

        One fancy-index read per shard the batch touches (no per-sequence or per-token Python loop).
        """
        index = torch.as_tensor(sequence_indices).reshape(-1).cpu().numpy().astype(np.int64)  # (b,)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise CheckpointError(f"sequence cache lookup out of range: indices [{index.min()}, {index.max()}] but "
                                  f"the cache holds {len(self)} sequences; it was built for other token blocks")
        arrays = {}
        shard_of = index // self.shard_sequences  # (b,)
        for name, (dtype, shape) in self.manifest["arrays"].items():
            out = np.empty((len(index), *shape), dtype=dtype)
            for shard in np.unique(shard_of):
                rows = np.flatnonzero(shard_of == shard)
                out[rows] = self._array(int(shard), name)[index[rows] - shard * self.shard_sequences]
            arrays[name] = out
        self._bytes_since_release += sum(array.nbytes for array in arrays.values())
        if self._bytes_since_release > RELEASE_EVERY_BYTES:
            self.release_pages()
        logprobs, indices = decode(arrays, self.value_format)
        return TopKLogProbs(logprobs=logprobs, indices=indices)

    def release_pages(self) -> None:
        """Drop this process's mapped pages (they stay in the OS page cache): an epoch streams, RSS stays flat."""
        for array in self._maps.values():
            handle = getattr(array, "_mmap", None)
            if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                handle.madvise(mmap.MADV_DONTNEED)
        self._bytes_since_release = 0
