"""A torch classifier to ONNX: one input ``inputs`` with a dynamic batch axis, one output ``logits``.

Only the module passed in is traced, so whatever trained beside it (connectors, embedding heads, the teacher) cannot
reach the file; :func:`graph_parameters` checks that anyway, by comparing the graph's stored tensors with the
module's own state dict.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdistill.atomic import atomic_path
from kdistill.deploy.runtime import require
from kdistill.errors import CheckpointError, ConfigError, ShapeError
from kdistill.outputs import logits_of

INPUT, OUTPUT = "inputs", "logits"
OPSET = 20  # the torch exporter's default; onnxruntime 1.17+ runs it


class LogitsOnly(nn.Module):
    """Wraps a model whose output is a tuple / dict / ModelOutput, so the graph's one output is the logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(inputs))


@contextmanager
def quiet_exporter():
    """The exporter warns about torchvision ops it cannot register (torchvision is not a dependency): noise here."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # torch's own deprecations inside the exporter (LeafSpec): not the user's
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(previous)


def exportable(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """``model`` in eval mode, wrapped in :class:`LogitsOnly` when its output is not a plain logits tensor."""
    model = model.eval()
    with torch.inference_mode():
        output = model(example)
    if isinstance(output, torch.Tensor):
        return model
    logits_of(output)  # a one-line ShapeError for outputs without logits
    return LogitsOnly(model).eval()


def export_module(model: nn.Module, example_inputs: torch.Tensor, path: str | Path,
                  metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` as ONNX to ``path`` (dynamic batch) with ``metadata`` stored as JSON strings; return ``path``.

    ``example_inputs``: (B, ...) real inputs of the shape the model takes (only their shape and dtype matter).
    """
    require("onnx", "onnxscript", "onnxruntime")
    import onnx

    if not isinstance(example_inputs, torch.Tensor) or example_inputs.dim() < 1 or len(example_inputs) == 0:
        raise ShapeError("ONNX export needs example_inputs: a tensor (B, ...) of inputs the model takes")
    # batch 2: the exporter specialises a batch of 1 into the graph instead of keeping the axis dynamic
    example = example_inputs[:1].repeat(2, *([1] * (example_inputs.dim() - 1))).float().cpu()
    module = exportable(model.cpu(), example)
    try:
        with quiet_exporter():
            program = torch.onnx.export(module, (example,), input_names=[INPUT], output_names=[OUTPUT],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=OPSET,
                                        dynamo=True, verbose=False)
    except Exception as error:  # the exporter raises many types for operations it cannot trace
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"cannot export {type(model).__name__} to ONNX ({type(error).__name__}: {first}); "
                          "rerun with --debug for the exporter's trace") from error
    path = Path(path)
    with atomic_path(path) as temporary:
        program.save(str(temporary))
        graph = onnx.load(str(temporary))
        set_metadata(graph, metadata or {})
        onnx.save(graph, str(temporary))
    return path


def set_metadata(graph: Any, metadata: Mapping[str, Any]) -> None:
    """Store ``metadata`` in the model's ``metadata_props`` (values as JSON), readable with onnxruntime alone:
    ``session.get_modelmeta().custom_metadata_map``."""
    existing = {prop.key: prop for prop in graph.metadata_props}
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if key in existing:
            existing[key].value = text
        else:
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, text


def graph_parameters(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """What the exported graph stores, against the module's own tensors.

    ``graph_elements``: elements of all stored float tensors (folding batch norms into convolutions only lowers it);
    ``student_elements``: elements of the module's state dict (parameters and buffers); ``foreign``: stored tensors
    named like a module path (``connector.0.weight``) that the module does not have. Exporter constants (shapes)
    have names without a dot; tensors folded from the module's own (a batch norm into its convolution) are named after
    them.
    """
    require("onnx")
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = [numpy_helper.to_array(tensor) for tensor in graph.initializer]
    # float tensors only: shape constants (int64) are not weights
    stored = {tensor.name: int(array.size) for tensor, array in zip(graph.initializer, weights)
              if array.dtype.kind == "f"}
    own = {name: tensor.numel() for name, tensor in model.state_dict().items()}
    own.update({f"model.{name}": size for name, size in list(own.items())})  # names under a LogitsOnly wrapper
    # folding a batch norm into its convolution stores "<conv weight name>_bias": derived from the student's tensors
    foreign = sorted(name for name in stored if "." in name and name not in own
                     and not any(name.startswith(f"{key}_") for key in own))
    return {"graph_elements": sum(stored.values()), "student_elements": sum(tensor.numel() for tensor in
                                                                          model.state_dict().values()),
            "graph_tensors": len(stored), "foreign": foreign}


def check_graph_parameters(summary: dict[str, Any], path: str | Path) -> None:
    """Refuse a graph that stores tensors the student does not have (e.g. a connector that trained beside it)."""
    if summary["foreign"] or summary["graph_elements"] > summary["student_elements"]:
        shown = ", ".join(summary["foreign"][:5]) or f"{summary['graph_elements']:,} elements"
        raise CheckpointError(f"{path} stores tensors that are not the student's ({shown}; the student has "
                              f"{summary['student_elements']:,} elements); export the student module alone")
