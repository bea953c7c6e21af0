"""Latency of several ways to run one model, measured in turns within one process.

Each repeat runs every variant once, in an order rotated by one each repeat, so a burst of load from another
process on a shared machine hits all variants alike instead of whichever one happened to be timed then. Reported:
median and interquartile range (IQR = q3 - q1) in milliseconds; a test never asserts these numbers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def interleaved_latency(variants: Mapping[str, Callable[[], object]], repeats: int = 50,
                        warmup: int = 5) -> dict[str, dict[str, Any]]:
    """``{name: {"median_ms", "q1_ms", "q3_ms", "iqr_ms", "repeats"}}`` over ``repeats`` timed calls of each."""
    if repeats < 2:
        raise ValueError("latency needs at least 2 repeats for a spread")
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    timings: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            variants[name]()
            timings[name].append((time.perf_counter() - start) * 1000.0)
    return {name: summarise(values) for name, values in timings.items()}


def summarise(milliseconds: list[float]) -> dict[str, Any]:
    q1, median, q3 = statistics.quantiles(milliseconds, n=4, method="inclusive")
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1, "repeats": len(milliseconds)}
