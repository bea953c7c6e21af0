"""Intermediate-representation plumbing for feature distillation: taps (hooks by module name), connectors (learnable
projections owned by the method) and layer matching (explicit pairs or ``uniform`` / ``last`` / ``middle``)."""

from kdistill.features.connectors import (
    ConvConnector,
    LinearConnector,
    build_connector,
    count_extra_parameters,
    match_spatial,
)
from kdistill.features.matching import (
    StoredLayers,
    default_feature_layers,
    resolve_layer_pairs,
    uniform_indices,
    uniform_pairs,
)
from kdistill.features.taps import FeatureTaps, find_module, unwrap_model

__all__ = [
    "ConvConnector",
    "FeatureTaps",
    "LinearConnector",
    "StoredLayers",
    "build_connector",
    "count_extra_parameters",
    "default_feature_layers",
    "find_module",
    "match_spatial",
    "resolve_layer_pairs",
    "uniform_indices",
    "uniform_pairs",
    "unwrap_model",
]
