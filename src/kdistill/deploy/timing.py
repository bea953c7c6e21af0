"""Latency of several ways to run one model, measured in turns within one process.

Each repeat runs every variant once, in an order rotated by one each repeat, so a burst of load from another
process on a shared machine hits all variants alike instead of whichever one happened to be timed then. Reported:
median and interquartile range (IQR = q3 - q1) in milliseconds; a test never asserts these numbers. A ratio of two
variants is taken per repeat (the two were timed within one turn, under the same load) and summarised the same way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def interleaved_latency(variants: Mapping[str, Callable[[], object]], repeats: int = 50,
                        warmup: int = 5) -> dict[str, dict[str, Any]]:
    """``{name: {"median_ms", "q1_ms", "q3_ms", "iqr_ms", "repeats"}}`` over ``repeats`` timed calls of each."""
    return {name: summarise(values) for name, values in interleaved_times(variants, repeats, warmup).items()}


def interleaved_times(variants: Mapping[str, Callable[[], object]], repeats: int = 50,
                      warmup: int = 5) -> dict[str, list[float]]:
    """``{name: [milliseconds of repeat 1, 2, ...]}``: ``warmup`` untimed turns, then ``repeats`` timed turns, each
    calling every variant once in an order rotated by one per turn."""
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
    return timings


def summarise(milliseconds: list[float]) -> dict[str, Any]:
    q1, median, q3 = statistics.quantiles(milliseconds, n=4, method="inclusive")
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1, "repeats": len(milliseconds)}


def paired_ratio(numerator_ms: Sequence[float], denominator_ms: Sequence[float]) -> dict[str, Any]:
    """``{"median", "q1", "q3", "min", "max", "repeats", "below_one"}`` of numerator / denominator taken per repeat
    (both lists in repeat order, as :func:`interleaved_times` gives them). ``below_one``: the median ratio is under 1
    - for a variant that does strictly more work than its reference (a method's step vs the plain step) that is a
    measurement error, never a speed-up."""
    if len(numerator_ms) != len(denominator_ms) or len(numerator_ms) < 2:
        raise ValueError(f"a paired ratio needs two equally long series of at least 2 repeats, got "
                         f"{len(numerator_ms)} and {len(denominator_ms)}")
    ratios = [top / bottom for top, bottom in zip(numerator_ms, denominator_ms)]
    q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return {"median": median, "q1": q1, "q3": q3, "min": min(ratios), "max": max(ratios), "repeats": len(ratios),
            "below_one": median < 1.0}
