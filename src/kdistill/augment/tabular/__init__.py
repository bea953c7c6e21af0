"""Tabular transfer-set augmentation: Gibbs sampling (FAST-DAD), MUNGE, and Gaussian/categorical noise.

    from kdistill.augment.tabular import augment
    X_synthetic = augment(X_train, "gibbs", multiplier=3, random_state=0)
"""

from kdistill.augment.tabular.base import AUGMENTERS, TabularAugmenter, augment, build_augmenter
from kdistill.augment.tabular.columns import ColumnSpec, describe_columns
from kdistill.augment.tabular.gibbs import GibbsAugmenter
from kdistill.augment.tabular.labels import teacher_labels
from kdistill.augment.tabular.munge import MungeAugmenter
from kdistill.augment.tabular.noise import NoiseAugmenter

__all__ = [
    "AUGMENTERS",
    "ColumnSpec",
    "GibbsAugmenter",
    "MungeAugmenter",
    "NoiseAugmenter",
    "TabularAugmenter",
    "augment",
    "build_augmenter",
    "describe_columns",
    "teacher_labels",
]
