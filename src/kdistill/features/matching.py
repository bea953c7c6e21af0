"""Layer matching: which student layer is taught by which teacher layer.

A recipe's ``layers`` is either explicit ``[[student_layer, teacher_layer], ...]`` pairs, or a strategy name applied
to each model's default feature layers (its stage outputs, see :func:`default_feature_layers`):

- ``uniform``: all M student stages, student stage i (1-based) taught by teacher stage round(i·N/M), so the first
  and last stages line up and the rest spread evenly (3 onto 4: 1->1, 2->3, 3->4; 3 onto 5: 1->2, 2->3, 3->5);
- ``last``: the last stage of each (SP, RKD, PKT, CRD);
- ``middle``: student stage ceil(M/2) with the teacher stage ``uniform`` gives it (FitNets' hint in the middle).

A cached teacher has no network to tap: its side is a :class:`StoredLayers` - the module names whose outputs the
cache stores, in stage order - which stands in for the teacher's default layers and is checked the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from torch import nn

from kdistill.arguments import Check
from kdistill.errors import ConfigError
from kdistill.features.taps import find_module, strip_wrapper_prefix, unwrap_model

LayerPairs = list[tuple[str, str]]
MATCHING_STRATEGIES = ("uniform", "last", "middle")


def layer_spec_problem(value: Any) -> str | None:
    """What is wrong with a recipe's ``layers`` value, or None (module names are checked against the models later)."""
    if isinstance(value, str):
        return None if value in MATCHING_STRATEGIES else f"must be one of {', '.join(MATCHING_STRATEGIES)} or a list " \
            "of [student_layer, teacher_layer] pairs"
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(n, str) for n in pair)
            for pair in value):
        return None
    return "must be uniform, last, middle or a non-empty list of [student_layer, teacher_layer] name pairs"


LayerSpec = Annotated[Any, Check(layer_spec_problem)]  # a builder argument type: how layers are matched


@dataclass(frozen=True)
class StoredLayers:
    """The teacher layers a teacher cache stores (module names, in stage order): a cached teacher's feature side."""

    names: tuple[str, ...]

    def check(self, name: str) -> None:
        if strip_wrapper_prefix(name) not in self.names:
            raise ConfigError(f"the teacher cache stores no feature {name!r} (it stores {list(self.names) or 'none'});"
                              " add the layer to distill.cache.features and rebuild the cache")


def teacher_layers(teacher: nn.Module | StoredLayers) -> list[str]:
    """The teacher side's default layers: a network's stage outputs, or the layers its cache stores."""
    if isinstance(teacher, StoredLayers):
        if not teacher.names:
            raise ConfigError("the teacher cache stores no intermediate features; list the teacher's layers in "
                              "distill.cache.features and rebuild the cache")
        return list(teacher.names)
    return default_feature_layers(teacher)


def default_feature_layers(model: nn.Module) -> list[str]:
    """The model's stage outputs, from its class attribute ``FEATURE_LAYERS`` (the reference ResNets, WRNs, VGGs)."""
    layers = getattr(unwrap_model(model), "FEATURE_LAYERS", None)
    if not layers:
        raise ConfigError(f"{type(unwrap_model(model)).__name__} declares no default feature layers; name them in "
                          "method_args as layers: [[student_layer, teacher_layer], ...]")
    return list(layers)


def uniform_indices(student_count: int, teacher_count: int) -> list[int]:
    """0-based teacher stage for each of ``student_count`` student stages, spread evenly, last onto last."""
    if student_count < 1 or teacher_count < 1:
        raise ConfigError(f"need at least one stage on each side, got {student_count} and {teacher_count}")
    # floor(x + 0.5) rather than round(): Python's round() goes to even on .5, which would bunch stages together.
    return [max(0, math.floor(i * teacher_count / student_count + 0.5) - 1) for i in range(1, student_count + 1)]


def uniform_pairs(student_layers: Sequence[str], teacher_layers: Sequence[str]) -> LayerPairs:
    """Map M student layers onto N teacher layers evenly (see the module docstring)."""
    indices = uniform_indices(len(student_layers), len(teacher_layers))
    return [(student_layers[i], teacher_layers[j]) for i, j in enumerate(indices)]


def resolve_layer_pairs(spec: str | Sequence[Any], student: nn.Module,
                        teacher_model: nn.Module | StoredLayers) -> LayerPairs:
    """Turn a recipe's ``layers`` value into checked (student_layer, teacher_layer) pairs."""
    if isinstance(spec, str):
        if spec not in MATCHING_STRATEGIES:
            raise ConfigError(f"layers must be one of {', '.join(MATCHING_STRATEGIES)} or a list of "
                              f"[student_layer, teacher_layer] pairs; got {spec!r}")
        pairs = uniform_pairs(default_feature_layers(student), teacher_layers(teacher_model))
        if spec == "last":
            pairs = pairs[-1:]
        elif spec == "middle":
            pairs = [pairs[(len(pairs) - 1) // 2]]
    else:
        pairs = []
        for pair in spec:
            if isinstance(pair, str) or len(pair) != 2:
                raise ConfigError(f"each explicit layer pair must be [student_layer, teacher_layer]; got {pair!r}")
            pairs.append((strip_wrapper_prefix(str(pair[0])), strip_wrapper_prefix(str(pair[1]))))
        if not pairs:
            raise ConfigError("layers is an empty list; give at least one [student_layer, teacher_layer] pair")
    for student_layer, teacher_layer in pairs:  # unknown names fail at build time, naming the candidates
        find_module(student, student_layer)
        if isinstance(teacher_model, StoredLayers):
            teacher_model.check(teacher_layer)
        else:
            find_module(teacher_model, teacher_layer)
    return pairs
