"""What a model costs to ship and run: parameters, FLOPs per sample, latency and weights file size."""

from __future__ import annotations

import math
import statistics
import tempfile
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
    on_pass: Callable[[], object] | None = None, threads: int | None = None,
) -> float:
    """Median milliseconds of one forward pass on a batch of ``batch_size`` copies of ``example_single`` (see
    :func:`measure_latency`, which also gives the spread)."""
    return measure_latency(model, example_single, batch_size, repeats, warmup, on_pass, threads)["median_ms"]


def measure_latency(
    model: nn.Module, example_single: Inputs, batch_size: int, repeats: int = 30, warmup: int = 5,
    on_pass: Callable[[], object] | None = None, threads: int | None = None,
) -> dict[str, Any]:
    """Forward-pass latency with ``torch.utils.benchmark``: ``{"median_ms", "iqr_ms", "q1_ms", "q3_ms", "repeats",
    "warmup", "threads", "passes_per_repeat"}``.

    ``warmup`` untimed passes first (allocator, kernel selection, caches), then ``repeats`` timed measurements, each
    of enough back-to-back passes to last about a millisecond (a 50-µs pass timed alone is mostly timer noise); median
    and interquartile range are over the measurements, per pass. ``threads`` (default: the current torch setting) is
    set for the measurement and recorded: latency depends on it, so `kdistill run`'s report and `kdistill profile`
    both pass the recipe's. Eval mode and ``inference_mode``; CUDA is synchronised by the benchmark timer.
    ``on_pass`` is called after every warm-up pass and every measurement (a progress bar's ``update``).
    """
    from torch.utils import benchmark

    if batch_size_of({"inputs": example_single}) != 1:
        raise ShapeError("latency_ms needs example_single with batch dimension 1, e.g. x[:1]")
    if repeats < 1:
        raise ShapeError(f"latency needs at least one timed repeat, got {repeats}")
    threads = torch.get_num_threads() if threads is None else threads
    batch = {"inputs": _repeat_rows(example_single, batch_size)}
    timer = benchmark.Timer(stmt="forward_model(model, batch)", num_threads=threads,
                            globals={"forward_model": forward_model, "model": model, "batch": batch})
    with eval_mode(model), torch.inference_mode():
        warm = []
        for _ in range(warmup):
            warm.append(timer.timeit(1).median)
            if on_pass is not None:
                on_pass()
        one_pass = statistics.median(warm) if warm else timer.timeit(1).median
        passes = max(1, min(MAX_PASSES_PER_REPEAT, math.ceil(REPEAT_SECONDS / max(one_pass, 1e-9))))
        measurements = []
        for _ in range(repeats):
            measurements.append(timer.timeit(passes))
            if on_pass is not None:
                on_pass()
    merged = benchmark.Measurement.merge(measurements)[0]
    q1, q3 = _quartiles(merged.times)
    return {"median_ms": merged.median * 1e3, "iqr_ms": (q3 - q1) * 1e3, "q1_ms": q1 * 1e3, "q3_ms": q3 * 1e3,
            "repeats": repeats, "warmup": warmup, "threads": threads, "passes_per_repeat": passes}


REPEAT_SECONDS = 1e-3  # one timed measurement lasts about this long
MAX_PASSES_PER_REPEAT = 1000


def _quartiles(times: Sequence[float]) -> tuple[float, float]:
    """First and third quartiles as torch.utils.benchmark computes them (linear interpolation)."""
    values = torch.tensor(list(times), dtype=torch.float64)
    return float(values.quantile(0.25)), float(values.quantile(0.75))


def weights_size_bytes(model: nn.Module) -> int:
    """Size in bytes of the model's ``.safetensors`` file (state dict incl. buffers, tied weights stored once)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_model(model, str(path))
        return path.stat().st_size


def profile_model(
    model: nn.Module, example_single: Inputs, batch_sizes: Sequence[int] = (1, 256), repeats: int = 30,
    desc: str = "profile", progress: bool = False, threads: int | None = None,
) -> dict[str, Any]:
    """``{"params", "flops_per_sample", "latency_ms": {"1": median ms, ...}, "latency_iqr_ms": {"1": IQR ms, ...},
    "latency_threads", "latency_repeats", "latency_warmup", "size_bytes"}`` for a report - the one code path of
    `kdistill run`'s report and `kdistill profile` (see :func:`measure_latency`).

    Latency keys are strings so the dict survives a JSON round trip unchanged. ``progress=True`` shows a bar (on a
    terminal) labelled ``desc`` over the timed forward passes, which dominate: large batches of a big model take long.
    """
    row: dict[str, Any] = {"params": count_parameters(model),
                           "flops_per_sample": flops_per_sample(model, example_single)}
    warmup = 5
    threads = torch.get_num_threads() if threads is None else threads
    with tqdm(total=len(batch_sizes) * (warmup + repeats), desc=desc, leave=False,
              disable=None if progress else True, mininterval=0.5) as bar:
        timings = {str(size): measure_latency(model, example_single, size, repeats, warmup, bar.update, threads)
                   for size in batch_sizes}
    row["latency_ms"] = {size: timing["median_ms"] for size, timing in timings.items()}
    row["latency_iqr_ms"] = {size: timing["iqr_ms"] for size, timing in timings.items()}
    row.update(latency_threads=threads, latency_repeats=repeats, latency_warmup=warmup)
    row["size_bytes"] = weights_size_bytes(model)
    return row


def _repeat_rows(inputs: Inputs, batch_size: int) -> Inputs:
    # repeat (a real copy), not expand: a stride-0 batch can take faster or slower kernels than real data.
    if isinstance(inputs, Mapping):
        return {key: _repeat_rows(value, batch_size) for key, value in inputs.items()}
    return inputs.repeat(batch_size, *([1] * (inputs.dim() - 1)))


def _first_tensor(inputs: Inputs) -> torch.Tensor:
    return next(iter(inputs.values())) if isinstance(inputs, Mapping) else inputs
