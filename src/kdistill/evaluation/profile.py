"""What a model costs to ship and run: parameters, FLOPs per sample, latency and weights file size."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_model
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from kdistill.batch import batch_size as batch_size_of
from kdistill.batch import forward_model
from kdistill.errors import ShapeError
from kdistill.evaluation._modes import eval_mode

Inputs = torch.Tensor | Mapping[str, torch.Tensor]  # a tensor with a batch dim, or kwargs of such tensors


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements; shared (tied) parameters count once, buffers not at all."""
    return sum(parameter.numel() for parameter in model.parameters())


def flops_per_sample(model: nn.Module, example_inputs: Inputs) -> int:
    """Forward FLOPs for one sample, from ``FlopCounterMode`` on ``example_inputs`` divided by their batch size.

    The counter counts a matmul ``(M, K) @ (K, N)`` as ``2*M*N*K`` (multiply + add) and ignores elementwise ops
    (activations, norms), so a Linear(784, 100) costs 2*784*100 per sample.
    """
    batch = {"inputs": example_inputs}
    with eval_mode(model), torch.inference_mode(), FlopCounterMode(display=False) as counter:
        forward_model(model, batch)
    return round(counter.get_total_flops() / batch_size_of(batch))


def latency_ms(
    model: nn.Module, example_single: Inputs, batch_size: int, repeats: int = 30, warmup: int = 5,
    on_pass: Callable[[], object] | None = None,
) -> float:
    """Median wall-clock milliseconds of one forward pass on a batch of ``batch_size`` copies of ``example_single``.

    ``example_single`` has batch dim 1 and lives on the device to time. Median, not mean: a stray scheduler hiccup
    should not move the number. Runs in eval mode under ``inference_mode``; CUDA is synchronised around each pass.
    ``on_pass`` is called after every pass (a progress bar's ``update``).
    """
    if batch_size_of({"inputs": example_single}) != 1:
        raise ShapeError("latency_ms needs example_single with batch dimension 1, e.g. x[:1]")
    batch = {"inputs": _repeat_rows(example_single, batch_size)}
    on_cuda = _first_tensor(example_single).is_cuda
    timings = []
    with eval_mode(model), torch.inference_mode():
        for step in range(warmup + repeats):
            if on_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            forward_model(model, batch)
            if on_cuda:
                torch.cuda.synchronize()
            if step >= warmup:
                timings.append((time.perf_counter() - start) * 1000.0)
            if on_pass is not None:
                on_pass()
    return statistics.median(timings)


def weights_size_bytes(model: nn.Module) -> int:
    """Size in bytes of the model's ``.safetensors`` file (state dict incl. buffers, tied weights stored once)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_model(model, str(path))
        return path.stat().st_size


def profile_model(
    model: nn.Module, example_single: Inputs, batch_sizes: Sequence[int] = (1, 256), repeats: int = 30,
    desc: str = "profile", progress: bool = False,
) -> dict[str, Any]:
    """``{"params", "flops_per_sample", "latency_ms": {"1": ms, "256": ms}, "size_bytes"}`` for a report.

    Latency keys are strings so the dict survives a JSON round trip unchanged. ``progress=True`` shows a bar (on a
    terminal) labelled ``desc`` over the timed forward passes, which dominate: large batches of a big model take long.
    """
    row: dict[str, Any] = {"params": count_parameters(model),
                           "flops_per_sample": flops_per_sample(model, example_single)}
    warmup = 5
    with tqdm(total=len(batch_sizes) * (warmup + repeats), desc=desc, leave=False,
              disable=None if progress else True, mininterval=0.5) as bar:
        row["latency_ms"] = {str(size): latency_ms(model, example_single, size, repeats, warmup, on_pass=bar.update)
                             for size in batch_sizes}
    row["size_bytes"] = weights_size_bytes(model)
    return row


def _repeat_rows(inputs: Inputs, batch_size: int) -> Inputs:
    # repeat (a real copy), not expand: a stride-0 batch can take faster or slower kernels than real data.
    if isinstance(inputs, Mapping):
        return {key: _repeat_rows(value, batch_size) for key, value in inputs.items()}
    return inputs.repeat(batch_size, *([1] * (inputs.dim() - 1)))


def _first_tensor(inputs: Inputs) -> torch.Tensor:
    return next(iter(inputs.values())) if isinstance(inputs, Mapping) else inputs
