"""Shared plumbing for benchmark scripts: resumable result files, mean ± std, machine description.

A benchmark records each finished cell (e.g. method x seed x dataset) in its JSON file as soon as it finishes, and
skips finished cells when rerun, so a run killed by a session limit continues where it stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from kdistill.atomic import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"cells": {}}


@contextmanager
def results_lock(path: Path) -> Iterator[None]:
    """Exclusive lock beside ``path``: several processes (e.g. one per pair) may add cells to one results file."""
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Merge ``results`` with the cells another process wrote to ``path`` meanwhile (ours win), then replace the file
    atomically; ``results["cells"]`` ends up holding the merged cells."""
    with results_lock(path):
        on_disk = load_results(path)
        results["cells"] = {**on_disk.get("cells", {}), **results["cells"]}
        atomic_write_text(path, json.dumps(results, indent=2, sort_keys=True))


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_mean_std(values: list[float], digits: int = 1) -> str:
    mean, std = mean_std(values)
    if mean != mean:
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
