"""The sequence (language-model) teacher cache on a tiny random teacher: round trips, residual mass, resume, damage."""

import json
import logging
import math
import os
import pickle

import numpy as np
import pytest
import torch

from kdistill.cache import sequences as sequences_module
from kdistill.cache.sequences import SequenceCache, build_sequence_cache
from kdistill.errors import CheckpointError, ConfigError, ShapeError
from kdistill.losses.token_divergence import (
    TopKLogProbs,
    labels_mask,
    token_divergence,
    topk_log_probs,
)

N, T, V = 10, 6, 300
FINGERPRINT = {"teacher": "random-table-0", "corpus": "tiny"}


class TableTeacher:
    """(b, T) ids -> (b, T, V) logits: a fixed random row per token id plus a position term (no model download)."""

    def __init__(self, vocab=V, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(50, vocab, generator=generator) * 4.0  # ids < 50
        self.position = torch.randn(T, vocab, generator=generator)
        self.calls = 0

    def __call__(self, ids):
        self.calls += len(ids)
        return self.table[ids] + self.position[: ids.shape[1]]


def token_blocks(seed=0):
    return torch.randint(0, 50, (N, T), generator=torch.Generator().manual_seed(seed))


def build(directory, teacher=None, blocks=None, **kwargs):
    settings = {"k": 8, "value_format": "fp16", "batch_size": 4, "shard_sequences": 3, "fingerprint": FINGERPRINT,
                "progress": False, **kwargs}
    return build_sequence_cache(directory, teacher or TableTeacher(), token_blocks() if blocks is None else blocks,
                                **settings)


def test_fp16_round_trip_is_exactly_the_rounded_teacher_top_k(tmp_path):
    teacher, blocks = TableTeacher(), token_blocks()
    cache = build(tmp_path, teacher, blocks)
    assert (len(cache), cache.k, cache.vocab_size, cache.sequence_length, cache.value_format) == (N, 8, V, T, "fp16")
    order = torch.tensor([7, 0, 9, 3, 3, 5])  # across shards, unsorted, repeated
    stored = cache.lookup(order)
    expected = topk_log_probs(teacher(blocks[order]), 8)
    assert stored.logprobs.dtype == torch.float32 and stored.indices.dtype == torch.int64
    assert stored.logprobs.shape == (6, T, 8)
    assert torch.equal(stored.indices, expected.indices)
    assert torch.equal(stored.logprobs, expected.logprobs.half().float())
    assert np.load(tmp_path / "shard-00000.indices.npy").dtype == np.uint16


def test_reopened_cache_serves_the_same_values(tmp_path):
    built = build(tmp_path).lookup(torch.arange(N))
    reopened = SequenceCache.open(tmp_path, expected_fingerprint=dict(FINGERPRINT)).lookup(torch.arange(N))
    assert torch.equal(built.logprobs, reopened.logprobs) and torch.equal(built.indices, reopened.indices)


def test_pickled_cache_maps_its_files_afresh_and_release_keeps_reads_correct(tmp_path):
    cache = build(tmp_path)
    before = cache.lookup(torch.arange(N))
    copy = pickle.loads(pickle.dumps(cache))
    assert len(pickle.dumps(cache)) < 20_000 and not copy._maps  # no array data travels to a worker
    cache.release_pages()
    for served in (cache.lookup(torch.arange(N)), copy.lookup(torch.arange(N))):
        assert torch.equal(served.logprobs, before.logprobs) and torch.equal(served.indices, before.indices)


def test_int8_values_are_within_the_documented_bound(tmp_path):
    teacher, blocks = TableTeacher(), token_blocks()
    stored = build(tmp_path, teacher, blocks, value_format="int8", k=16).lookup(torch.arange(N))
    expected = topk_log_probs(teacher(blocks), 16)
    assert torch.equal(stored.indices, expected.indices)
    span = expected.logprobs[..., :1] - expected.logprobs[..., -1:]  # (N, T, 1)
    error = (stored.logprobs - expected.logprobs).abs()
    assert (error <= span / 510 + 1e-5).all()
    assert torch.equal(stored.logprobs[..., 0], expected.logprobs[..., 0])  # the most likely token is exact
    assert error.max() > 1e-4  # really quantised (the bound above is not vacuous)


def test_full_format_stores_every_log_prob_and_matches_the_dense_teacher_in_the_loss(tmp_path):
    teacher, blocks = TableTeacher(), token_blocks()
    cache = build(tmp_path, teacher, blocks, value_format="full")
    assert cache.k == V
    stored = cache.lookup(torch.tensor([2, 8]))
    logits = teacher(blocks[[2, 8]])
    assert torch.equal(stored.logprobs, torch.log_softmax(logits, -1).half().float())
    assert torch.equal(stored.indices[1, 3], torch.arange(V))
    student, mask = torch.randn(2, T, V), torch.ones(2, T, dtype=torch.bool)
    dense = token_divergence(student, logits, mask)
    for residual in ("renormalise", "uniform", "ignore"):
        assert float(token_divergence(student, stored, mask, residual=residual)) == pytest.approx(float(dense),
                                                                                                  rel=1e-3)


@pytest.mark.parametrize("value_format", ["fp16", "int8"])
def test_residual_mass_is_recoverable_from_the_stored_top_k(tmp_path, value_format):
    teacher, blocks = TableTeacher(), token_blocks()
    stored = build(tmp_path, teacher, blocks, value_format=value_format, k=4).lookup(torch.arange(N))
    true = topk_log_probs(teacher(blocks), 4).logprobs.double()  # (N, T, k)
    true_residual = 1 - true.exp().sum(-1)
    residual = 1 - stored.logprobs.double().exp().sum(-1)
    # per log-prob error bound: fp16 rounds to 2^-11 relative; int8 to span/510 absolute
    delta = true.abs() * 2**-11 if value_format == "fp16" else (true[..., :1] - true[..., -1:]) / 510 + 1e-6
    bound = (true.exp() * (delta.exp() - 1)).sum(-1) + 1e-6
    assert (true_residual > 0.01).any()  # a real residual to recover
    assert ((residual - true_residual).abs() <= bound).all()


def test_bytes_per_token_counts_every_file_and_meets_the_budget(tmp_path):
    blocks = torch.randint(0, 50, (40, 32), generator=torch.Generator().manual_seed(1))
    teacher = TableTeacher()
    teacher.position = torch.randn(32, V)
    sizes = {}
    for value_format in ("fp16", "int8"):
        cache = build(tmp_path / value_format, teacher, blocks, k=64, value_format=value_format, shard_sequences=16)
        on_disk = sum(path.stat().st_size for path in (tmp_path / value_format).iterdir())
        assert cache.bytes_per_token() == on_disk / (40 * 32)
        sizes[value_format] = cache.bytes_per_token()
    # payload: ids 2·64 (uint16) + values 2·64 (fp16) | 64 codes + 8 (top, scale); the rest is headers and records
    assert 256 < sizes["fp16"] < 256 + 8
    assert 200 < sizes["int8"] < 200 + 8
    assert max(sizes.values()) <= 300  # the budget at k = 64


def test_vocabularies_above_65536_store_int32_ids(tmp_path):
    teacher = TableTeacher(vocab=70_000)
    teacher.table[:, 69_999] += 100.0  # the top token everywhere: an id uint16 cannot hold
    cache = build(tmp_path, teacher, k=2)
    assert np.load(tmp_path / "shard-00000.indices.npy").dtype == np.int32
    assert (cache.lookup(torch.arange(N)).indices[..., 0] == 69_999).all()


def test_interrupted_build_resumes_and_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    build(tmp_path / "straight")
    original, written = sequences_module._write_shard, []

    def interrupt_after_two(*args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt
        original(*args, **kwargs)
        written.append(args[1])

    monkeypatch.setattr(sequences_module, "_write_shard", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "resumed")
    with pytest.raises(CheckpointError, match="shard 2: not built; rerun build_sequence_cache"):
        SequenceCache.open(tmp_path / "resumed")
    monkeypatch.setattr(sequences_module, "_write_shard", original)
    teacher = TableTeacher()
    build(tmp_path / "resumed", teacher)
    assert teacher.calls == 1 + (N - 6)  # the vocabulary probe + shards 2 and 3 (4 sequences): 0 and 1 kept
    for path in (tmp_path / "straight").glob("shard-*.npy"):
        assert path.read_bytes() == (tmp_path / "resumed" / path.name).read_bytes()


def test_a_stale_temporary_from_a_killed_write_is_removed(tmp_path):
    build(tmp_path)
    leftover = tmp_path / ".shard-00001.values.npy.abcd1234.tmp"
    leftover.write_bytes(b"half a file")
    os.utime(leftover, (0, 0))  # older than this process: a dead writer's
    build(tmp_path)
    assert not leftover.exists()


def test_truncated_shard_names_the_file_and_the_fix_and_is_rebuilt(tmp_path):
    build(tmp_path)
    shard = tmp_path / "shard-00001.values.npy"
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match=r"shard-00001\.values\.npy is truncated or corrupt.*build_sequence"):
        SequenceCache.open(tmp_path)
    teacher = TableTeacher()
    build(tmp_path, teacher)
    assert teacher.calls == 1 + 3  # probe + the damaged shard only
    SequenceCache.open(tmp_path)


def test_file_damaged_after_opening_without_verification_is_reported_on_read(tmp_path):
    build(tmp_path)
    (tmp_path / "shard-00002.indices.npy").write_bytes(b"not an array")
    cache = SequenceCache.open(tmp_path, verify=False)
    with pytest.raises(CheckpointError, match=r"shard-00002\.indices\.npy.*build_sequence_cache"):
        cache.lookup(torch.tensor([7]))


def test_fingerprint_mismatch_names_the_differing_keys(tmp_path, caplog):
    build(tmp_path)
    with pytest.raises(CheckpointError, match=r"built from different teacher; rerun build_sequence_cache"):
        SequenceCache.open(tmp_path, expected_fingerprint={"teacher": "another", "corpus": "tiny"})
    with pytest.raises(CheckpointError, match=r"different corpus, split"):
        SequenceCache.open(tmp_path, expected_fingerprint={"teacher": "random-table-0", "corpus": "x", "split": 1})
    with caplog.at_level(logging.WARNING, logger="kdistill"):
        build(tmp_path, blocks=token_blocks(seed=1), value_format="int8")
    assert "tokens_sha256" in caplog.text and "settings.value_format" in caplog.text
    assert not list(tmp_path.glob("shard-*.values.npy"))  # the old format's shards are gone, not mixed in
    assert SequenceCache.open(tmp_path).value_format == "int8"


def test_open_refuses_a_missing_folder_and_an_image_cache(tmp_path):
    with pytest.raises(CheckpointError, match="no sequence cache.*build_sequence_cache"):
        SequenceCache.open(tmp_path / "nothing")
    (tmp_path / "manifest.json").write_text(json.dumps({"fingerprint": "x", "num_shards": 0}))
    with pytest.raises(CheckpointError, match="image teacher cache"):
        SequenceCache.open(tmp_path)


def test_bad_arguments_raise_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="fp16, int8, full"):
        build(tmp_path, value_format="bf16")
    with pytest.raises(ConfigError, match=r"k=301 exceeds the teacher's vocabulary of 300"):
        build(tmp_path, k=301)
    with pytest.raises(ShapeError, match=r"\(N sequences, T tokens\)"):
        build(tmp_path, blocks=token_blocks().float())
    with pytest.raises(ShapeError, match=r"expected \(1, 6, 'V'\), got \(1, 300\)"):
        build(tmp_path, teacher=lambda ids: torch.zeros(len(ids), V))
    with pytest.raises(ConfigError, match="JSON"):
        build(tmp_path, fingerprint={"teacher": object()})
    cache = build(tmp_path)
    with pytest.raises(CheckpointError, match=r"out of range.*holds 10 sequences"):
        cache.lookup(torch.tensor([10]))


def test_cached_teacher_gives_the_live_sparse_loss(tmp_path):
    teacher, blocks = TableTeacher(), token_blocks()
    cache = build(tmp_path, teacher, blocks, k=32)
    batch = torch.tensor([1, 4, 9])
    student = torch.randn(3, T, V)
    mask = labels_mask(torch.where(torch.rand(3, T) < 0.3, -100, 1))
    live = topk_log_probs(teacher(blocks[batch]), 32)
    cached = cache.lookup(batch)
    assert isinstance(cached, TopKLogProbs)
    for kind in ("forward_kl", "reverse_kl", "jsd", "tv"):
        expected = float(token_divergence(student, live, mask, kind=kind))
        assert float(token_divergence(student, cached, mask, kind=kind)) == pytest.approx(expected, rel=1e-3)
    assert math.isfinite(expected)
