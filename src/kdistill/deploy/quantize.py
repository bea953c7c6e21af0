"""int8 ONNX models with ONNX Runtime's quantiser.

Two ways, chosen per graph by ``mode="auto"``:

- ``dynamic`` (graphs of matrix products: MLPs, transformers): int8 weights, activations quantised on the fly per
  batch. Needs no data. ONNX Runtime runs its MatMulInteger kernels fast.
- ``static`` (graphs with convolutions): int8 weights per output channel and int8 activations whose ranges are
  calibrated on a few hundred training-side inputs (QDQ format). Dynamic quantisation of a convolution becomes
  ConvInteger, which ONNX Runtime runs 2-6x *slower* than fp32 on CPUs; static QDQ runs the fast int8 kernels.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kdistill.atomic import atomic_path
from kdistill.deploy.runtime import require
from kdistill.errors import ConfigError

MODES = ("auto", "dynamic", "static")
log = logging.getLogger("kdistill")


def choose_mode(path: str | Path, mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"unknown int8 mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode != "auto":
        return mode
    import onnx

    ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    return "static" if ops & {"Conv", "ConvTranspose"} else "dynamic"


class _Batches:
    """ONNX Runtime's CalibrationDataReader protocol over (B, ...) float arrays."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]):
        self.feeds = iter({input_name: np.ascontiguousarray(batch, dtype=np.float32)} for batch in batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def quantize(source: str | Path, target: str | Path, mode: str = "auto",
             calibration: Iterable[np.ndarray] | None = None) -> str:
    """Write an int8 copy of the fp32 ONNX model ``source`` to ``target``; return the mode used.

    ``calibration``: batches of real inputs (not test inputs) for static mode; required there.
    """
    require("onnx", "onnxruntime")
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    mode = choose_mode(source, mode)
    if mode == "static" and calibration is None:
        raise ConfigError("static int8 quantisation needs calibration inputs (a few hundred real training inputs)")
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        try:  # shape inference + graph optimisation: what ONNX Runtime recommends before quantising
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
        except Exception as error:  # the optimiser refuses some graphs; quantising the graph as it is still works
            log.debug("quant_pre_process failed (%s); quantising the graph as exported", error)
            prepared = Path(source)
        with atomic_path(target) as temporary:
            if mode == "dynamic":
                quantize_dynamic(str(prepared), str(temporary), weight_type=QuantType.QInt8)
            else:
                input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
                quantize_static(str(prepared), str(temporary), _Batches(input_name, calibration),
                                quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8, per_channel=True)
            copy_metadata(source, temporary)
    return mode


def copy_metadata(source: str | Path, target: str | Path) -> None:
    """The quantiser drops ``metadata_props`` (class names, input shape): carry them over."""
    import onnx

    from kdistill.deploy.network import set_metadata

    original = onnx.load(str(source), load_external_data=False)
    quantized = onnx.load(str(target))
    set_metadata(quantized, {prop.key: prop.value for prop in original.metadata_props})
    onnx.save(quantized, str(target))


def file_size(path: str | Path) -> int:
    return Path(path).stat().st_size


def describe(path: str | Path, **extra: Any) -> dict[str, Any]:
    return {"path": str(path), "size_bytes": file_size(path), **extra}
