"""Model registry. A builder takes ``input_shape`` (without batch), ``num_classes`` and its own keyword arguments."""

from __future__ import annotations

from typing import Any

from torch import nn

from kdistill.registry import Registry

MODELS = Registry("model")


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **model_args: Any) -> nn.Module:
    """Build a registered model by name; unknown ``model_args`` are rejected by name."""
    return MODELS.build(name, input_shape=tuple(input_shape), num_classes=num_classes, **model_args)


def register_model(name: str):  # type: ignore[no-untyped-def]
    """Decorator: register a model builder ``builder(input_shape, num_classes, **typed_args) -> nn.Module``.
    Its typed keyword arguments become the recipe's ``model_args`` (checked by name, type and range)."""
    return MODELS.register(name)
