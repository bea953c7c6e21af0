"""The teacher's soft targets through the cache: CachedViewLoader(temperature=T) decodes the epoch's log σ(z_t / T)
once and hands each batch its rows; CachedTeacher.log_probs serves them only for its own cache at that T, and a
Hinton step from them equals one from the cached logits."""

import math

import pytest
import torch

from kdistill.cache import CachedTeacher, CachedViewLoader, CacheSettings, TeacherCache, build_cache
from kdistill.errors import ConfigError
from kdistill.models import build_model
from kdistill.strategies import build_strategy

VIEWS, SHARD, TEMPERATURE = 3, 16, 2.5


@pytest.fixture(params=["full", "topk"])
def cache(request, tmp_path, teacher_net, images_labels):
    images, labels = images_labels
    settings = CacheSettings(format=request.param, topk=4, temperature=TEMPERATURE, views=VIEWS, shard_size=SHARD)
    build_cache(tmp_path, teacher_net, images, labels, settings, max_shift=1, seed=7, batch_size=10, progress=False)
    return TeacherCache(tmp_path)


def naive_log_softmax(logits, temperature):
    """(B, C) float64 reference, row by row in Python floats."""
    rows = []
    for row in logits.tolist():
        scaled = [value / temperature for value in row]
        top = max(scaled)
        log_total = top + math.log(sum(math.exp(value - top) for value in scaled))
        rows.append([value - log_total for value in scaled])
    return torch.tensor(rows, dtype=torch.float64)


def test_every_batch_brings_the_log_probs_of_its_own_cached_logits(cache, images_labels):
    """On every rank and epoch (so every stored view), the last partial batch included."""
    images, labels = images_labels
    for rank in range(2):
        loader = CachedViewLoader(images, labels, 16, seed=3, rank=rank, world_size=2, cache=cache,
                                  temperature=TEMPERATURE)
        for epoch in (1, 2, 3, 4):
            loader.set_epoch(epoch)
            sizes = []
            for batch in loader:
                size = len(batch["index"])
                sizes.append(size)
                assert batch["cached_log_probs"].shape == batch["cached_logits"].shape == (size, 10)
                assert batch["view"].shape == (size,) and bool((batch["view"] == (epoch - 1) % VIEWS).all())
                assert batch["cached_temperature"] == TEMPERATURE
                torch.testing.assert_close(batch["cached_log_probs"].double(),
                                           naive_log_softmax(batch["cached_logits"], TEMPERATURE),
                                           rtol=1e-6, atol=1e-6)
            assert sizes == [16, 16, 3]  # 35 samples per rank


def test_the_cached_teacher_serves_them_only_at_their_temperature_and_for_its_cache(cache, images_labels, tmp_path,
                                                                                  teacher_net):
    images, labels = images_labels
    loader = CachedViewLoader(images, labels, 16, cache=cache, temperature=TEMPERATURE)
    loader.set_epoch(2)
    batch = next(iter(loader))
    teacher = CachedTeacher(cache)
    assert teacher.log_probs(batch, TEMPERATURE) is batch["cached_log_probs"]  # no work per step
    other_t = teacher.log_probs(batch, 1.0)  # another temperature: computed from the logits
    torch.testing.assert_close(other_t.double(), naive_log_softmax(batch["cached_logits"], 1.0), rtol=1e-6,
                               atol=1e-6)
    with torch.no_grad():
        next(teacher_net.parameters()).mul_(2)  # another teacher -> another cache and fingerprint
    settings = CacheSettings(format=cache.format, topk=4, temperature=TEMPERATURE, views=VIEWS, shard_size=SHARD)
    build_cache(tmp_path / "other", teacher_net, images, labels, settings, max_shift=1, seed=7, batch_size=10,
                progress=False)
    other = CachedTeacher(TeacherCache(tmp_path / "other"))
    served = other.log_probs(batch, TEMPERATURE)
    assert not torch.equal(served, batch["cached_log_probs"])
    torch.testing.assert_close(served.double(), naive_log_softmax(other(batch), TEMPERATURE), rtol=1e-6, atol=1e-6)


def test_without_a_temperature_batches_carry_no_log_probs(cache, images_labels):
    images, labels = images_labels
    loader = CachedViewLoader(images, labels, 16, cache=cache)
    loader.set_epoch(1)
    batch = next(iter(loader))
    assert "cached_logits" in batch and "cached_log_probs" not in batch and "cached_temperature" not in batch
    torch.testing.assert_close(CachedTeacher(cache).log_probs(batch, TEMPERATURE).double(),
                               naive_log_softmax(batch["cached_logits"], TEMPERATURE), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_a_non_positive_temperature_is_refused(cache, images_labels, temperature):
    images, labels = images_labels
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        CachedViewLoader(images, labels, 16, cache=cache, temperature=temperature)


def test_a_hinton_step_from_the_decoded_log_probs_equals_one_from_the_cached_logits(cache, images_labels):
    images, labels = images_labels
    with_log_probs = CachedViewLoader(images, labels, 16, seed=1, cache=cache, temperature=TEMPERATURE)
    logits_only = CachedViewLoader(images, labels, 16, seed=1, cache=cache)
    strategy = build_strategy("hinton", teacher=CachedTeacher(cache), temperature=TEMPERATURE)
    torch.manual_seed(0)
    student = build_model("mlp", (1, 8, 8), 10, hidden=[12])
    for loader in (with_log_probs, logits_only):
        loader.set_epoch(3)
    for fast, reference in zip(with_log_probs, logits_only, strict=True):
        assert "cached_log_probs" in fast and "cached_log_probs" not in reference
        results = []
        for batch in (fast, reference):
            student.zero_grad(set_to_none=True)
            out = strategy(batch, student)
            out["loss"].backward()
            results.append((out, [p.grad.clone() for p in student.parameters()]))
        (fast_out, fast_grads), (ref_out, ref_grads) = results
        for name in ("loss", "ce", "kd"):
            torch.testing.assert_close(fast_out[name], ref_out[name], rtol=1e-6, atol=1e-6)
        for fast_grad, ref_grad in zip(fast_grads, ref_grads):
            torch.testing.assert_close(fast_grad, ref_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("temperature, tables", [(None, 2), (TEMPERATURE, 3)])
def test_the_table_budget_covers_every_epoch_table_the_loader_holds(cache, images_labels, temperature, tables):
    """The loader keeps the decoded view, its epoch-ordered copy and (with a temperature) the log-probs; a budget that
    fits fewer tables than that reads per batch instead (it used to check one table and hold three)."""
    images, labels = images_labels
    one_table = cache.num_samples * cache.num_classes * 4
    for budget, gathers in ((tables * one_table - 1, False), (tables * one_table, True)):
        cache.table_budget_bytes = budget
        loader = CachedViewLoader(images, labels, 16, seed=3, cache=cache, temperature=temperature)
        loader.set_epoch(1)
        batch = next(iter(loader))
        assert ("cached_logits" in batch) is gathers
        if gathers and temperature is not None:
            assert "cached_log_probs" in batch
