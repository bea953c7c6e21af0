"""Seeded stratified splits for sources whose files carry no split of their own (a flat folder, one table)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kdistill.errors import ConfigError, DataError


@dataclass(kw_only=True)
class SplitOptions:
    """How a source without its own splits is cut: per class, a share for ``val`` and ``test``, the rest ``train``.

    ``val_fraction: 0`` gives no ``val`` split (the experiment pipeline carves its own from ``train``).
    """

    val_fraction: float = 0.0
    test_fraction: float = 0.2
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ConfigError(f"val_fraction and test_fraction must be in [0, 1) with a sum below 1; got "
                              f"{self.val_fraction} and {self.test_fraction}")

    def split_names(self) -> tuple[str, ...]:
        return ("train",) + (("val",) if self.val_fraction > 0 else ()) + (("test",) if self.test_fraction > 0 else ())


def stratified_split(labels: torch.Tensor, options: SplitOptions, what: str) -> dict[str, torch.Tensor]:
    """Sorted sample indices of each split in ``options.split_names()``; each class keeps its share in each split.

    A class of n samples gives round(n * val_fraction) to ``val``, round(n * test_fraction) to ``test`` and the rest
    to ``train``; which ones is drawn from ``split_seed`` alone, so the same files always split the same way.
    ``what`` names the data in the error raised when a requested split would be empty.
    """
    generator = torch.Generator().manual_seed(options.split_seed)
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in ("train", "val", "test")}
    for label in labels.unique().tolist():  # sorted: one iteration per class
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = math.floor(len(members) * options.val_fraction + 0.5)
        n_test = math.floor(len(members) * options.test_fraction + 0.5)
        parts["val"].append(members[:n_val])
        parts["test"].append(members[n_val : n_val + n_test])
        parts["train"].append(members[n_val + n_test :])
    splits = {name: torch.cat(parts[name]).sort().values if parts[name] else torch.zeros(0, dtype=torch.long)
              for name in options.split_names()}
    empty = [name for name, index in splits.items() if len(index) == 0]
    if empty:
        raise DataError(f"{what} has too few samples ({len(labels)}) for a non-empty '{empty[0]}' split; add samples "
                        f"or change val_fraction/test_fraction")
    return splits
