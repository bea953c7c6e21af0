"""Batch reads of the teacher cache: the decoded per-view table, the epoch gather of CachedViewLoader and the
per-shard pread gather serve the exact stored targets, lookups out of range are refused, and per-batch reads map
nothing into the process (RSS stays flat)."""

import numpy as np
import pytest
import torch

from kdistill.cache import (
    CachedTeacher,
    CachedViewLoader,
    CacheSettings,
    TeacherCache,
    build_cache,
    decode,
)
from kdistill.errors import CheckpointError, ConfigError

NUM_SAMPLES, VIEWS, SHARD = 70, 3, 16


@pytest.fixture(params=["full", "topk"])
def cache_folder(request, tmp_path, teacher_net, images_labels):
    images, labels = images_labels
    settings = CacheSettings(format=request.param, topk=4, temperature=2.0, views=VIEWS, shard_size=SHARD,
                             features=("features.2",))
    build_cache(tmp_path, teacher_net, images, labels, settings, max_shift=1, seed=7, batch_size=10, progress=False)
    return tmp_path


def stored_logits(folder, index, view):
    """The reference: each sample's arrays straight from its shard file (np.load), decoded row by row."""
    cache = TeacherCache(folder)
    rows = []
    for i, v in zip(index.tolist(), view.tolist()):
        shard, row = divmod(i, SHARD)
        arrays = {name: np.load(folder / f"shard-{shard:05d}.{name}.npy")[row : row + 1, v]
                  for name in cache.manifest["arrays"] if not name.startswith("feature.")}
        rows.append(decode(arrays, cache.format, cache.num_classes))
    return torch.cat(rows)


def shuffled_batch(seed, size=40):
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(NUM_SAMPLES, generator=generator)[:size]


def test_one_view_batches_are_served_from_the_table_exactly(cache_folder):
    cache = TeacherCache(cache_folder)
    for view in (1, 0, 2, 1):  # the table follows the view asked for
        index = shuffled_batch(view)
        views = torch.full_like(index, view)
        served = cache.logits(index, views)
        assert cache._table_view == view
        assert torch.equal(served, stored_logits(cache_folder, index, views))


def test_mixed_views_and_a_table_over_budget_read_per_batch_with_the_same_values(cache_folder):
    index = shuffled_batch(3)
    mixed = torch.arange(len(index)) % VIEWS
    assert torch.equal(TeacherCache(cache_folder).logits(index, mixed), stored_logits(cache_folder, index, mixed))
    no_table = TeacherCache(cache_folder, table_budget_bytes=0)
    one_view = torch.full_like(index, 2)
    assert torch.equal(no_table.logits(index, one_view), stored_logits(cache_folder, index, one_view))
    assert no_table._table is None


def test_features_gather_across_shards_in_batch_order(cache_folder):
    cache = TeacherCache(cache_folder)
    index = shuffled_batch(4)
    view = torch.arange(len(index)) % VIEWS
    expected = [np.load(cache_folder / f"shard-{i // SHARD:05d}.feature.features.2.npy")[i % SHARD, v]
                for i, v in zip(index.tolist(), view.tolist())]
    torch.testing.assert_close(cache.feature("features.2", index, view),
                               torch.from_numpy(np.stack(expected).astype(np.float32)), rtol=0, atol=0)


@pytest.mark.parametrize("index, view", [([0, NUM_SAMPLES], [0, 0]), ([-1, 3], [1, 1]), ([0, 1], [VIEWS, VIEWS]),
                                         ([0, NUM_SAMPLES], [0, 1])])
def test_lookups_out_of_range_are_refused(cache_folder, index, view):
    cache = TeacherCache(cache_folder)
    with pytest.raises(CheckpointError, match="out of range"):
        cache.logits(torch.tensor(index), torch.tensor(view))
    batch = {"index": torch.tensor(index), "view": torch.tensor(view), "shift": torch.zeros(2, 2, dtype=torch.long)}
    with pytest.raises(CheckpointError, match="out of range"):
        CachedTeacher(cache)(batch)


def test_cached_teacher_serves_the_loader_batches_from_the_table(cache_folder, images_labels):
    images, labels = images_labels
    cached = CachedTeacher(TeacherCache(cache_folder))
    loader = CachedViewLoader(images, labels, 16, views=VIEWS, max_shift=1, seed=7)
    for epoch in (1, 2, 3):
        loader.set_epoch(epoch)
        for batch in loader:
            assert torch.equal(cached(batch), stored_logits(cache_folder, batch["index"], batch["view"]))


def test_feature_reads_map_nothing_into_the_process(cache_folder):
    """Per-batch gathers read rows with pread: no shard file is memory-mapped, so no cache page can enter this
    process's RSS (with maps, one fault mapped a whole page-cache folio: the cache ended up resident)."""
    cache = TeacherCache(cache_folder)
    index = shuffled_batch(5)
    cache.feature("features.2", index, torch.zeros_like(index))
    cache.logits(index, torch.arange(len(index)) % VIEWS)  # mixed views: the per-batch path
    assert cache._shards._maps == {}


def test_a_file_truncated_after_opening_names_the_fix(cache_folder):
    cache = TeacherCache(cache_folder)
    path = cache_folder / "shard-00000.feature.features.2.npy"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="ends before row .*cache build"):
        cache.feature("features.2", torch.tensor([SHARD - 1]), torch.tensor([VIEWS - 1]))


def test_building_a_view_table_releases_each_shard(cache_folder):
    cache = TeacherCache(cache_folder)
    cache.logits(torch.arange(5), torch.zeros(5, dtype=torch.long))
    assert cache._shards.releases == -(-NUM_SAMPLES // SHARD)


def test_a_loader_given_the_cache_brings_each_batch_its_stored_logits(cache_folder, images_labels, teacher_net):
    """The epoch's targets are gathered once, in batch order: every batch's slice equals a per-batch lookup, on
    every rank and every epoch, and the teacher serves them without looking anything up."""
    images, labels = images_labels
    cache = TeacherCache(cache_folder)
    cached = CachedTeacher(cache)
    for rank in range(2):
        loader = CachedViewLoader(images, labels, 16, seed=3, rank=rank, world_size=2, cache=cache)
        plain = CachedViewLoader(images, labels, 16, views=VIEWS, max_shift=1, seed=3, rank=rank, world_size=2,
                                 view_seed=7)
        for epoch in (1, 2, 3, 4):
            loader.set_epoch(epoch)
            plain.set_epoch(epoch)
            for batch, reference in zip(loader, plain, strict=True):
                assert torch.equal(batch["index"], reference["index"])
                assert torch.equal(batch["shift"], reference["shift"])
                lookup = stored_logits(cache_folder, batch["index"], batch["view"])
                assert torch.equal(batch["cached_logits"], lookup)
                assert cached(batch) is not None and torch.equal(cached(batch), lookup)
                assert torch.equal(cached(reference), lookup)  # the same targets through the lookup path


def test_a_teacher_on_another_cache_ignores_the_batch_logits(cache_folder, tmp_path, images_labels, teacher_net):
    images, labels = images_labels
    other_folder = tmp_path / "other"
    with torch.no_grad():
        next(teacher_net.parameters()).mul_(2)  # another teacher
    cache = TeacherCache(cache_folder)
    settings = CacheSettings(format=cache.format, topk=4, temperature=2.0, views=VIEWS, shard_size=SHARD)
    build_cache(other_folder, teacher_net, images, labels, settings, max_shift=1, seed=7, batch_size=10,
                progress=False)
    other = CachedTeacher(TeacherCache(other_folder))
    loader = CachedViewLoader(images, labels, 16, cache=cache)
    loader.set_epoch(1)
    batch = next(iter(loader))
    served = other(batch)
    assert not torch.equal(served, batch["cached_logits"])
    assert torch.equal(served, stored_logits(other_folder, batch["index"], batch["view"]))


@pytest.mark.parametrize("setting", [{"views": VIEWS + 1}, {"max_shift": 2}, {"view_seed": 8}])
def test_a_loader_whose_settings_differ_from_its_cache_is_refused(cache_folder, images_labels, setting):
    images, labels = images_labels
    with pytest.raises(ConfigError, match="differ from the teacher cache"):
        CachedViewLoader(images, labels, 16, cache=TeacherCache(cache_folder), **setting)
    with pytest.raises(ConfigError, match="differ from the teacher cache"):
        CachedViewLoader(images[:10], labels[:10], 16, cache=TeacherCache(cache_folder))
