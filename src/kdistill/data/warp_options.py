"""The recipe's warp settings (``distill.cache.warp``), apart from :mod:`kdistill.data.warp` so that reading a recipe
does not import torch."""

from __future__ import annotations

from dataclasses import dataclass

from kdistill.arguments import NonNegative
from kdistill.errors import ConfigError
from kdistill.values import check_fields


@dataclass
class WarpOptions:
    """Maximum rotation (degrees, uniform in ±rotation), relative scale change (uniform in 1 ± scale), shear
    (degrees, uniform in ±shear) and the elastic field's std in pixels on a ``elastic_grid``-square lattice.
    All zero (the default) = no warp."""

    rotation: NonNegative = 0.0
    scale: NonNegative = 0.0
    shear: NonNegative = 0.0
    elastic: NonNegative = 0.0
    elastic_grid: int = 4

    def __post_init__(self) -> None:
        check_fields(self, "warp")
        if not 2 <= self.elastic_grid <= 64:
            raise ConfigError(f"warp.elastic_grid must be in [2, 64]; got {self.elastic_grid}")
        if self.scale >= 1:
            raise ConfigError(f"warp.scale must be < 1 (a relative change); got {self.scale}")

    @property
    def active(self) -> bool:
        return any((self.rotation, self.scale, self.shear, self.elastic))
