import torch

from kdistill.cache import CachedViewLoader, epoch_view, view_shifts
from kdistill.data import ArrayLoader, shift_images
from kdistill.data.warp import warp_images


def test_view_shifts_are_reproducible_and_differ_between_views():
    assert torch.equal(view_shifts(50, 2, 3, 1), view_shifts(50, 2, 3, 1))
    assert not torch.equal(view_shifts(50, 2, 3, 0), view_shifts(50, 2, 3, 1))
    assert view_shifts(50, 2, 3, 0).abs().max() <= 2
    assert not view_shifts(50, 0, 3, 0).any()


def test_epochs_cycle_through_views():
    assert [epoch_view(epoch, 3) for epoch in range(1, 8)] == [0, 1, 2, 0, 1, 2, 0]


def test_loader_keeps_array_loader_order_and_serves_stored_views(images_labels):
    images, labels = images_labels
    plain = ArrayLoader(images, labels, 16, max_shift=1, seed=5)
    cached = CachedViewLoader(images, labels, 16, views=3, max_shift=1, seed=5)
    for epoch in (1, 2, 4):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        view = epoch_view(epoch, 3)
        shifts = view_shifts(len(labels), 1, 5, view)
        for plain_batch, batch in zip(plain, cached):
            assert torch.equal(plain_batch["index"], batch["index"])
            assert torch.equal(batch["view"], torch.full_like(batch["index"], view))
            assert torch.equal(batch["shift"], shifts[batch["index"]])
            assert torch.equal(batch["inputs"], shift_images(images[batch["index"]], shifts[batch["index"]]))


def test_ranks_partition_the_epoch(images_labels):
    images, labels = images_labels
    seen = []
    for rank in range(2):
        loader = CachedViewLoader(images, labels, 8, views=2, max_shift=1, seed=0, rank=rank, world_size=2)
        loader.set_epoch(1)
        seen += [int(i) for batch in loader for i in batch["index"]]
    assert len(seen) == len(set(seen)) == len(labels)


def test_warped_views_differ_per_view_and_are_served_by_the_loader(images_labels):
    from kdistill.cache.views import apply_view, view_warps
    from kdistill.data.warp_options import WarpOptions

    images, labels = images_labels
    warp = WarpOptions(rotation=15, elastic=0.5)
    assert view_warps(len(labels), WarpOptions(), 5, 0) is None
    first, second = view_warps(len(labels), warp, 5, 0), view_warps(len(labels), warp, 5, 1)
    assert not torch.equal(first.theta, second.theta)
    loader = CachedViewLoader(images, labels, 16, views=2, max_shift=1, seed=5, warp=warp)
    loader.set_epoch(2)
    shifts = view_shifts(len(labels), 1, 5, 1)
    for batch in loader:
        index = batch["index"]
        expected = shift_images(warp_images(images[index], second.select(index)), shifts[index])
        torch.testing.assert_close(batch["inputs"], expected)
        assert torch.equal(apply_view(images[index], shifts[index], second.select(index)), batch["inputs"])
