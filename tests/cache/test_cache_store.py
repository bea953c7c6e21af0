"""Key consistency under augmentation, invalidation, corruption and resume of the teacher cache."""

import pytest
import torch

from kdistill.cache import CacheSettings, CachedTeacher, CachedViewLoader, TeacherCache, build_cache
from kdistill.cache import build as build_module
from kdistill.errors import CheckpointError, ConfigError
from kdistill.teachers import FrozenTeacher


def build(folder, teacher_net, images_labels, **settings):
    images, labels = images_labels
    options = {"views": 3, "shard_size": 16, **settings}
    on_mismatch = options.pop("on_mismatch", "rebuild")
    return build_cache(folder, teacher_net, images, labels, CacheSettings(**options), dataset="toy", max_shift=1,
                       seed=7, batch_size=10, on_mismatch=on_mismatch, progress=False)


@pytest.mark.parametrize("fmt", ["full", "topk"])
def test_served_target_equals_teacher_on_that_exact_view(tmp_path, teacher_net, images_labels, fmt):
    build(tmp_path, teacher_net, images_labels, format=fmt, topk=4, temperature=2.0)
    cached = CachedTeacher(TeacherCache(tmp_path))
    live = FrozenTeacher(teacher_net)
    images, labels = images_labels
    loader = CachedViewLoader(images, labels, 16, views=cached.cache.views, max_shift=1, seed=7)
    for epoch in range(1, 5):  # cycles through all three views and back
        loader.set_epoch(epoch)
        for batch in loader:
            served, truth = cached(batch), live(batch)
            if fmt == "full":
                torch.testing.assert_close(served, truth, atol=2e-3, rtol=2e-3)
            else:  # the top-k tempered probabilities are the teacher's
                top = truth.topk(4, -1).indices
                torch.testing.assert_close(torch.softmax(served / 2, -1).gather(-1, top),
                                           torch.softmax(truth / 2, -1).gather(-1, top), atol=2e-3, rtol=2e-3)


def test_a_batch_from_another_augmentation_is_refused(tmp_path, teacher_net, images_labels):
    build(tmp_path, teacher_net, images_labels)
    cached = CachedTeacher(TeacherCache(tmp_path))
    images, labels = images_labels
    loader = CachedViewLoader(images, labels, 70, views=3, max_shift=1, seed=8)  # wrong seed: other offsets
    loader.set_epoch(1)
    with pytest.raises(ConfigError, match="jitter offsets"):
        cached(next(iter(loader)))


def test_changed_teacher_rebuilds_or_is_refused(tmp_path, teacher_net, images_labels):
    build(tmp_path, teacher_net, images_labels)
    old = TeacherCache(tmp_path).fingerprint
    with torch.no_grad():
        next(teacher_net.parameters()).add_(0.1)
    with pytest.raises(CheckpointError, match="teacher_sha256"):
        build(tmp_path, teacher_net, images_labels, on_mismatch="error")
    stats = build(tmp_path, teacher_net, images_labels)
    assert stats.built_shards == 5 and stats.skipped_shards == 0
    assert TeacherCache(tmp_path).fingerprint != old
    with pytest.raises(CheckpointError, match="stale"):
        TeacherCache(tmp_path, expected_fingerprint=old)


def test_changed_model_code_with_the_same_weights_is_refused(tmp_path, images_labels):
    """Moving a pooling layer keeps every weight but changes the stored features' shapes: the cache is stale."""

    class Net(torch.nn.Module):
        def __init__(self, pool_first: bool):
            super().__init__()
            self.pool_first = pool_first
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.head = torch.nn.Linear(4, 10)

        def forward(self, images):
            out = torch.nn.functional.max_pool2d(images, 2) if self.pool_first else images
            out = self.conv(out)  # the stored feature: 4x4 or 8x8
            return self.head(out.mean((2, 3)))

    before, after = Net(pool_first=False), Net(pool_first=True)
    after.load_state_dict(before.state_dict())
    build(tmp_path, before, images_labels, features=("conv",))
    with pytest.raises(CheckpointError, match="teacher_output_shapes"):
        build(tmp_path, after, images_labels, features=("conv",), on_mismatch="error")


def test_changed_settings_or_data_change_the_fingerprint(tmp_path, teacher_net, images_labels):
    build(tmp_path / "a", teacher_net, images_labels)
    build(tmp_path / "b", teacher_net, images_labels, format="topk", topk=3)
    images, labels = images_labels
    build(tmp_path / "c", teacher_net, (images.flip(0), labels.flip(0)))
    prints = {TeacherCache(tmp_path / name).fingerprint for name in "abc"}
    assert len(prints) == 3


def test_truncated_shard_is_detected_and_rebuilt(tmp_path, teacher_net, images_labels):
    build(tmp_path, teacher_net, images_labels)
    shard = tmp_path / "shard-00002.logits.npy"
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match="shard 2: .*truncated or corrupt"):
        TeacherCache(tmp_path)
    stats = build(tmp_path, teacher_net, images_labels)
    assert (stats.built_shards, stats.skipped_shards) == (1, 4)
    TeacherCache(tmp_path)


def test_missing_cache_names_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="kdistill cache build"):
        TeacherCache(tmp_path / "nothing")


def test_interrupted_build_resumes_and_matches_an_uninterrupted_one(tmp_path, teacher_net, images_labels,
                                                                     monkeypatch):
    build(tmp_path / "straight", teacher_net, images_labels)
    original, written = build_module.write_shard, []

    def interrupt_after_two(*args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt
        original(*args, **kwargs)
        written.append(args[1])

    monkeypatch.setattr(build_module, "write_shard", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "resumed", teacher_net, images_labels)
    with pytest.raises(CheckpointError, match="not built"):
        TeacherCache(tmp_path / "resumed")
    monkeypatch.setattr(build_module, "write_shard", original)
    stats = build(tmp_path / "resumed", teacher_net, images_labels)
    assert (stats.built_shards, stats.skipped_shards) == (3, 2)
    for shard in range(5):
        name = f"shard-{shard:05d}.logits.npy"
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes()
    assert not list((tmp_path / "resumed").glob("*.tmp"))


def test_features_are_stored_by_module_name(tmp_path, teacher_net, images_labels):
    build(tmp_path, teacher_net, images_labels, features=("features.2",))
    cached = CachedTeacher(TeacherCache(tmp_path))
    images, labels = images_labels
    loader = CachedViewLoader(images, labels, 16, views=3, max_shift=1, seed=7)
    loader.set_epoch(2)
    batch = next(iter(loader))
    captured = {}
    handle = teacher_net.features[2].register_forward_hook(lambda m, i, out: captured.setdefault("out", out))
    FrozenTeacher(teacher_net)(batch)
    handle.remove()
    torch.testing.assert_close(cached.features(batch)["features.2"], captured["out"], atol=2e-3, rtol=2e-3)
    assert cached.cache.bytes_per_sample(include_features=True) > cached.cache.bytes_per_sample()


def test_release_pages_keeps_reads_correct(tmp_path, teacher_net, images_labels):
    build(tmp_path, teacher_net, images_labels)
    cache = TeacherCache(tmp_path)
    index, view = torch.arange(70), torch.zeros(70, dtype=torch.long)
    before = cache.logits(index, view)
    cache.release_pages()
    torch.testing.assert_close(cache.logits(index, view), before)
    assert cache.bytes_per_sample() == 3 * 10 * 2  # views x classes x fp16


def test_no_jitter_stores_one_view(tmp_path, teacher_net, images_labels):
    images, labels = images_labels
    build_cache(tmp_path, teacher_net, images, labels, CacheSettings(views=4), max_shift=0, progress=False)
    cached = CachedTeacher(TeacherCache(tmp_path))
    assert cached.cache.views == 1
    batch = {"inputs": images[:5], "index": torch.arange(5)}  # a plain batch without "view" works
    torch.testing.assert_close(cached(batch), FrozenTeacher(teacher_net)(batch), atol=2e-3, rtol=2e-3)


def test_warped_cache_serves_the_teacher_on_the_warped_view(tmp_path, teacher_net, images_labels):
    """The student's batch (warped, then jittered) gets the teacher's logits on exactly that input."""
    from kdistill.data.warp_options import WarpOptions

    images, labels = images_labels
    warp = WarpOptions(rotation=20, scale=0.1, elastic=0.7)
    build_cache(tmp_path, teacher_net, images, labels, CacheSettings(views=3, shard_size=16), max_shift=1, seed=7,
                batch_size=10, progress=False, warp=warp)
    cache = TeacherCache(tmp_path)
    assert cache.manifest["warp"]["rotation"] == 20
    cached, live = CachedTeacher(cache), FrozenTeacher(teacher_net)
    loader = CachedViewLoader(images, labels, 16, views=3, max_shift=1, seed=7, warp=warp)
    unwarped = CachedViewLoader(images, labels, 16, views=3, max_shift=1, seed=7)
    for epoch in (1, 3):
        loader.set_epoch(epoch)
        unwarped.set_epoch(epoch)
        for batch, plain in zip(loader, unwarped):
            assert not torch.equal(batch["inputs"], plain["inputs"])
            torch.testing.assert_close(cached(batch), live(batch), atol=2e-3, rtol=2e-3)


def test_warp_changes_the_cache_fingerprint_and_no_warp_keeps_it(tmp_path, teacher_net, images_labels):
    from kdistill.data.warp_options import WarpOptions

    images, labels = images_labels
    fingerprints = []
    for name, warp in (("none", None), ("zero", WarpOptions()), ("warp", WarpOptions(shear=5))):
        build_cache(tmp_path / name, teacher_net, images, labels, CacheSettings(views=2), max_shift=1,
                    progress=False, warp=warp)
        fingerprints.append(TeacherCache(tmp_path / name).manifest["fingerprint"])
    assert fingerprints[0] == fingerprints[1] != fingerprints[2]
