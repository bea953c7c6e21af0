"""Seeded carves of a training set: a validation split and (optionally stratified) subsets.

Both draw only from the arrays they are given; callers pass the TRAINING set, so the test set never takes part in
model selection.
"""

from __future__ import annotations

import torch

from kdistill.errors import ConfigError


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def split_validation(
    images: torch.Tensor, labels: torch.Tensor, val_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Carve ``val_size`` random samples out of a training set.

    images (N, ...), labels (N,) -> (train_images (N - val_size, ...), train_labels, val_images (val_size, ...),
    val_labels). The same seed gives the same split; the two parts are disjoint and cover the input.
    """
    count = len(labels)
    if not 0 < val_size < count:
        raise ConfigError(f"val_size must be between 1 and {count - 1} (training set size - 1); got {val_size}")
    order = torch.randperm(count, generator=_generator(seed))
    val_index, train_index = order[:val_size], order[val_size:].sort().values  # keep training order stable
    return images[train_index], labels[train_index], images[val_index], labels[val_index]


def subset_indices(labels: torch.Tensor, size: float, seed: int, stratified: bool = True) -> torch.Tensor:
    """Sorted indices of a seeded subset; ``size`` is a fraction in (0, 1] (float) or a count (int).

    Stratified: each class keeps its share (count * class_fraction, rounded down, then the leftover samples go to the
    classes with the largest remainders) so small subsets still contain every class.
    """
    count = len(labels)
    wanted = round(size * count) if isinstance(size, float) else int(size)
    if isinstance(size, float) and not 0 < size <= 1:
        raise ConfigError(f"subset fraction must be in (0, 1]; got {size}")
    if not 0 < wanted <= count:
        raise ConfigError(f"subset size must be between 1 and {count}; got {size}")
    generator = _generator(seed)
    if not stratified:
        return torch.randperm(count, generator=generator)[:wanted].sort().values
    classes, class_counts = labels.unique(return_counts=True)
    exact = class_counts.double() * wanted / count
    quota = exact.floor().long()
    leftover = wanted - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:leftover]] += 1
    chosen = []
    for label, take in zip(classes.tolist(), quota.tolist()):  # one iteration per class, not per sample
        members = (labels == label).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen).sort().values


def subset(
    images: torch.Tensor, labels: torch.Tensor, size: float, seed: int, stratified: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of (images (N, ...), labels (N,)); ``size`` is a fraction (float) or a count (int)."""
    index = subset_indices(labels, size, seed, stratified)
    return images[index], labels[index]
