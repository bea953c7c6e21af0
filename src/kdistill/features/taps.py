"""Feature taps: capture intermediate outputs of a model by module name through forward hooks.

No model changes its ``forward`` or returns feature dicts: a tap registers a forward hook on each named module,
stores that module's output when the model runs, and hands the stored tensors over once (``read`` clears them, so a
feature can never leak into the next step or be kept alive with its autograd graph). Hooks are removed when the
``with`` block exits.

    with FeatureTaps(student, ["layer2", "layer3"]) as taps:
        logits = student(images)               # (B, C)
        features = taps.read()                 # {"layer2": (B, 32, 14, 14), "layer3": (B, 64, 7, 7)}

Hugging Face models work as they are: modules are named as in ``model.named_modules()`` (``bert.encoder.layer.0``,
``bert.pooler``), a block returning a tuple is tapped for its first item (the hidden states ``(B, T, H)``), and a
submodel returning a ``ModelOutput`` for its first tensor (``last_hidden_state``).

A model wrapped for DDP (or DataParallel) is unwrapped to its ``.module`` for the hooks (the forward still goes through
the wrapper, so gradients are synchronised), and names may be given with or without the wrapper's ``module.`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kdistill.errors import ConfigError

WRAPPER_TYPES = (nn.parallel.DistributedDataParallel, nn.DataParallel)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside a DDP / DataParallel wrapper (the model itself otherwise)."""
    while isinstance(model, WRAPPER_TYPES):
        model = model.module
    return model


def strip_wrapper_prefix(name: str) -> str:
    """``module.layer2`` (a name read off a DDP-wrapped model) -> ``layer2``."""
    while name.startswith("module."):
        name = name[len("module."):]
    return name


def find_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (DDP prefix optional); a ConfigError listing candidates when it is absent."""
    modules = dict(unwrap_model(model).named_modules())
    key = strip_wrapper_prefix(name)
    if key not in modules or key == "":
        candidates = [n for n in modules if n and "." not in n]
        raise ConfigError(f"{type(unwrap_model(model)).__name__} has no module named {name!r}; top-level modules: "
                          f"{', '.join(candidates)} (nested ones are dotted, e.g. 'layer2.0')")
    return modules[key]


def _first_tensor(output: Any, name: str) -> torch.Tensor:
    """The feature in a module's output: a tensor as it is; a tuple/list's first item (a Hugging Face attention block
    returns ``(hidden_states, attention_weights)``); a ``ModelOutput`` or dict's first tensor (``last_hidden_state``
    of a tapped ``bert`` submodel)."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    elif isinstance(output, Mapping):
        output = next((value for value in output.values() if isinstance(value, torch.Tensor)), output)
    if isinstance(output, torch.Tensor):
        return output
    raise ConfigError(f"cannot tap {name!r}: its output is {type(output).__name__}, and a tap needs a tensor, a tuple "
                      "whose first item is a tensor, or a ModelOutput; tap a module returning hidden states")


class FeatureTaps:
    """Context manager holding forward hooks on ``names``; ``read()`` returns ``{name: output}`` and clears it."""

    def __init__(self, model: nn.Module, names: Sequence[str]):
        self.model = model
        self.names = list(dict.fromkeys(strip_wrapper_prefix(name) for name in names))  # a layer may be matched twice
        self.modules = [find_module(model, name) for name in self.names]  # fail at construction, not mid-step
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._features: dict[str, torch.Tensor] = {}

    def __enter__(self) -> FeatureTaps:
        for name, module in zip(self.names, self.modules):
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._features.clear()

    def _hook(self, name: str):
        def store(module: nn.Module, inputs: Any, output: Any) -> None:
            self._features[name] = _first_tensor(output, name)  # a module run twice keeps its last output

        return store

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def read(self) -> dict[str, torch.Tensor]:
        """The captured features in the order of ``names``; clears them. Raises if a module did not run."""
        missing = [name for name in self.names if name not in self._features]
        if missing:
            self._features.clear()
            raise RuntimeError(f"modules {missing} did not run in the last forward pass; tap modules the model's "
                               "forward actually calls")
        features = {name: self._features[name] for name in self.names}
        self._features.clear()
        return features

    def pending(self) -> int:
        """How many captured features are waiting to be read (0 after ``read``)."""
        return len(self._features)
