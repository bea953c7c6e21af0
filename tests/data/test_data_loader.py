import pytest
import torch

from kdistill.data.jitter import shift_images
from kdistill.data.loader import ArrayLoader

N = 103


@pytest.fixture
def arrays():
    images = torch.rand(N, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(N) % 10
    return images, labels


def collect(loader, key):
    return torch.cat([batch[key] for batch in loader])


def test_batches_follow_the_contract(arrays):
    loader = ArrayLoader(*arrays, batch_size=16, max_shift=2, seed=1)
    batch = next(iter(loader))
    assert set(batch) == {"inputs", "labels", "index", "shift"}
    assert batch["inputs"].shape == (16, 1, 6, 6) and batch["inputs"].dtype == torch.float32
    assert batch["labels"].shape == (16,) and batch["index"].dtype == torch.int64
    assert batch["shift"].shape == (16, 2) and batch["shift"].dtype == torch.int64
    assert torch.equal(batch["labels"], arrays[1][batch["index"]])
    # The recorded offsets reproduce the exact view: what a cached teacher relies on.
    assert torch.equal(batch["inputs"], shift_images(arrays[0][batch["index"]], batch["shift"]))


def test_same_seed_and_epoch_give_identical_batches(arrays):
    first, second = ArrayLoader(*arrays, 16, max_shift=2, seed=3), ArrayLoader(*arrays, 16, max_shift=2, seed=3)
    first.set_epoch(4)
    second.set_epoch(4)
    for a, b in zip(first, second, strict=True):
        for key in a:
            assert torch.equal(a[key], b[key])
    # Replaying the epoch on the same loader gives the same batches too (exact --resume).
    assert torch.equal(collect(first, "index"), collect(second, "index"))


def test_different_epoch_or_seed_changes_order(arrays):
    loader = ArrayLoader(*arrays, 16, seed=0)
    epoch0 = collect(loader, "index")
    loader.set_epoch(1)
    assert not torch.equal(epoch0, collect(loader, "index"))
    assert not torch.equal(epoch0, collect(ArrayLoader(*arrays, 16, seed=1), "index"))


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_index_once_per_epoch(arrays, drop_last):
    loader = ArrayLoader(*arrays, 16, drop_last=drop_last)
    index = collect(loader, "index")
    assert len(loader) == (6 if drop_last else 7) == sum(1 for _ in loader)
    if drop_last:
        assert len(index) == 96 and len(index.unique()) == 96
    else:
        assert torch.equal(index.sort().values, torch.arange(N))


def test_no_shuffle_no_jitter(arrays):
    loader = ArrayLoader(*arrays, 50, shuffle=False)
    assert torch.equal(collect(loader, "index"), torch.arange(N))
    assert not collect(loader, "shift").any()
    assert torch.equal(collect(loader, "inputs"), arrays[0])


def test_ranks_partition_the_epoch(arrays):
    world_size = 4
    loaders = [ArrayLoader(*arrays, 8, seed=5, rank=rank, world_size=world_size) for rank in range(world_size)]
    parts = [collect(loader, "index") for loader in loaders]
    assert len({len(loader) for loader in loaders}) == 1  # equal batch counts, or DDP would hang
    assert all(len(part) == N // world_size for part in parts)
    merged = torch.cat(parts)
    assert len(merged.unique()) == len(merged)  # disjoint


def test_shift_of_a_sample_does_not_depend_on_batch_size(arrays):
    small, large = ArrayLoader(*arrays, 7, max_shift=2, seed=2), ArrayLoader(*arrays, 64, max_shift=2, seed=2)
    shift_small = collect(small, "shift")[collect(small, "index").argsort()]
    shift_large = collect(large, "shift")[collect(large, "index").argsort()]
    assert torch.equal(shift_small, shift_large)


def test_a_training_warp_is_reproducible_per_epoch_and_leaves_order_and_offsets_alone():
    from kdistill.data.loader import WARP_STREAM, epoch_seed
    from kdistill.data.warp import sample_warps, warp_images
    from kdistill.data.warp_options import WarpOptions

    images, labels = torch.rand(20, 1, 12, 12), torch.arange(20) % 3
    warp = WarpOptions(rotation=15, elastic=1.0)

    def first_batch(epoch, with_warp=True):
        loader = ArrayLoader(images, labels, 8, max_shift=1, seed=4, warp=warp if with_warp else None)
        loader.set_epoch(epoch)
        return next(iter(loader))

    batch, again, plain = first_batch(2), first_batch(2), first_batch(2, with_warp=False)
    assert torch.equal(batch["inputs"], again["inputs"])
    assert torch.equal(batch["index"], plain["index"]) and torch.equal(batch["shift"], plain["shift"])
    assert not torch.allclose(batch["inputs"], plain["inputs"])  # the warp changed the images
    # each sample's warp is row ``id`` of that epoch's own draw, applied before the jitter
    warps = sample_warps(20, warp, torch.Generator().manual_seed(epoch_seed(4, 2) ^ WARP_STREAM))
    expected = shift_images(warp_images(images[batch["index"]], warps.select(batch["index"])), batch["shift"])
    torch.testing.assert_close(batch["inputs"], expected)
    assert not torch.equal(first_batch(3)["inputs"], batch["inputs"])  # a new epoch draws new warps


def test_an_inactive_warp_is_no_warp():
    from kdistill.data.warp_options import WarpOptions

    images, labels = torch.rand(10, 1, 8, 8), torch.zeros(10, dtype=torch.int64)
    warped = next(iter(ArrayLoader(images, labels, 10, seed=1, warp=WarpOptions())))
    plain = next(iter(ArrayLoader(images, labels, 10, seed=1)))
    assert torch.equal(warped["inputs"], plain["inputs"])
