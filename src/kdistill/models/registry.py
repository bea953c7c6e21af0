"""Model registry. A builder takes ``input_shape`` (without batch), ``num_classes`` and its own keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from kdistill.registry import Registry

MODELS = Registry("model")


def build_model(name: str, input_shape: tuple[int, ...] | Mapping[str, tuple[int, ...]], num_classes: int,
                **model_args: Any) -> nn.Module:
    """Build a registered model by name; unknown ``model_args`` are rejected by name. ``input_shape`` is one sample's
    shape, or ``{input name: shape}`` for models taking several inputs (text: input_ids, attention_mask)."""
    shape = ({key: tuple(value) for key, value in input_shape.items()} if isinstance(input_shape, Mapping)
             else tuple(input_shape))
    return MODELS.build(name, input_shape=shape, num_classes=num_classes, **model_args)


def register_model(name: str):  # type: ignore[no-untyped-def]
    """Decorator: register a model builder ``builder(input_shape, num_classes, **typed_args) -> nn.Module``.
    Its typed keyword arguments become the recipe's ``model_args`` (checked by name, type and range)."""
    return MODELS.register(name)
