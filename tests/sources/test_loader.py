import pytest
import torch

from kdistill.data import ArrayLoader
from kdistill.errors import ConfigError
from kdistill.sources import AugmentOptions, EpochSampler, open_source, source_loader
from kdistill.training.seeding import start_epoch


@pytest.fixture(scope="module")
def train(digits):
    return open_source("digits").open("train")  # 1,437 samples, 1x8x8


@pytest.fixture(scope="module")
def small(train):
    from kdistill.sources.arrays import ArrayConverter, ArrayDataset

    return ArrayDataset(train.inputs[:300], train.labels[:300], ArrayConverter("raw"))


def epoch_indices(loader, epoch):
    loader.set_epoch(epoch)
    return torch.cat([batch["index"] for batch in loader])


def test_batches_follow_the_contract(train):
    batch = next(iter(source_loader(train, 64, seed=0)))
    assert batch["inputs"].shape == (64, 1, 8, 8) and batch["inputs"].dtype == torch.float32
    assert batch["labels"].shape == (64,) and batch["labels"].dtype == torch.int64
    assert batch["index"].dtype == torch.int64 and batch["view"].tolist() == [0] * 64
    assert torch.equal(batch["labels"], train.labels[batch["index"]])


def test_order_is_seeded_per_epoch_and_matches_array_loader(train, digits):
    loader = source_loader(train, 100, seed=4)
    first, again, second = epoch_indices(loader, 1), epoch_indices(loader, 1), epoch_indices(loader, 2)
    assert torch.equal(first, again) and not torch.equal(first, second)
    assert sorted(first.tolist()) == list(range(len(train)))
    arrays = ArrayLoader(digits.train_images, digits.train_labels, 100, seed=4)
    arrays.set_epoch(2)
    assert torch.equal(second, torch.cat([batch["index"] for batch in arrays]))
    assert torch.equal(epoch_indices(source_loader(train, 100, shuffle=False), 3), torch.arange(len(train)))


def test_training_loop_seeding_reaches_the_sampler(train):
    loader = source_loader(train, 100, seed=4)
    start_epoch(loader, seed=0, epoch=3)
    assert loader.sampler.epoch == 3


def test_views_cycle_and_repeat_the_same_augmentation(small):
    loader = source_loader(small, 128, seed=0, augment=AugmentOptions(crop_padding=2, flip=True), views=3)
    seen = {}
    for epoch in range(1, 5):
        loader.set_epoch(epoch)
        batches = list(loader)
        assert {int(v) for batch in batches for v in batch["view"]} == {(epoch - 1) % 3}
        inputs = torch.cat([batch["inputs"] for batch in batches])
        order = torch.cat([batch["index"] for batch in batches])
        seen[epoch] = inputs[order.argsort()]  # by sample id
    assert torch.equal(seen[1], seen[4])  # epoch 4 shows view 0 again, exactly
    assert not torch.equal(seen[1], seen[2])


def test_without_views_every_epoch_is_a_fresh_view(train):
    loader = source_loader(train, 512, augment=AugmentOptions(jitter=1))
    for epoch in (1, 2, 7):
        loader.set_epoch(epoch)
        assert int(next(iter(loader))["view"][0]) == epoch - 1


def test_rank_shards_are_disjoint_equal_and_cover(train):
    shards = [epoch_indices(source_loader(train, 50, seed=1, rank=rank, world_size=3), 2) for rank in range(3)]
    assert len({len(shard) for shard in shards}) == 1 and len(shards[0]) == len(train) // 3
    union = torch.cat(shards)
    assert len(union.unique()) == len(union) == len(train) - len(train) % 3


def test_workers_give_identical_batches(small):
    options = AugmentOptions(crop_padding=2, flip=True, jitter=1, mix="cutmix")
    serial = source_loader(small, 100, seed=3, augment=options, views=2)
    parallel = source_loader(small, 100, seed=3, augment=options, views=2, num_workers=2, persistent_workers=True)
    for epoch in (1, 2):  # persistent workers must still see the new epoch's view
        serial.set_epoch(epoch)
        parallel.set_epoch(epoch)
        for a, b in zip(serial, parallel, strict=True):
            assert a.keys() == b.keys()
            assert all(torch.equal(a[key], b[key]) for key in a)
            assert int(b["view"][0]) == epoch - 1


def test_bad_arguments(train):
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        source_loader(train, 0)
    with pytest.raises(ConfigError, match="rank must be in"):
        source_loader(train, 8, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="views must be >= 1"):
        EpochSampler(10, views=0)
