"""Shared plumbing for benchmark scripts: resumable result files with per-cell provenance, mean ± std, timing ratios.

A benchmark records each finished cell (e.g. method x seed x dataset) in its JSON file as soon as it finishes, and
skips finished cells when rerun, so a run killed by a session limit continues where it stopped. Every cell carries
the provenance of the process that produced it (seed, torch threads, package versions, machine, code commit); the
file-level ``provenance`` is the union over the cells, recomputed on every save, so it never shows only the last
invocation's settings.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from kdistill.atomic import atomic_write_text
from kdistill.deploy.runtime import machine as runtime_machine

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# the packages a benchmark's numbers can depend on; the ones not installed are left out
PACKAGES = ("torch", "numpy", "kdistill", "scikit-learn", "lightgbm", "transformers", "datasets", "tokenizers",
            "onnx", "onnxruntime", "onnxscript", "optuna", "pandas")
UNRECORDED = ("written before per-cell provenance was recorded: the threads, package versions and machine that "
              "produced it are unknown")


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"cells": {}}


@contextmanager
def results_lock(path: Path) -> Iterator[None]:
    """Exclusive lock beside ``path``: several processes (e.g. one per pair) may add cells to one results file."""
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Merge ``results`` with the cells another process wrote to ``path`` meanwhile (ours win), recompute the
    file-level provenance as the union over all cells, then replace the file atomically; ``results["cells"]`` ends up
    holding the merged cells. A new or changed cell without provenance is refused (add cells with
    :func:`record_cell`); a cell as it already was on disk before provenance was recorded is marked so."""
    with results_lock(path):
        merged = load_results(path).get("cells", {})
        for key, cell in results["cells"].items():
            if "provenance" in cell:
                merged[key] = cell
            elif key not in merged or without_provenance(merged[key]) != cell:
                raise ValueError(f"{path.name}: cell {key!r} has no provenance; add cells with record_cell()")
            # else: a legacy cell as this process loaded it; the file's copy (marked, maybe by another process) stays
        results["cells"] = mark_unrecorded(merged)
        results["provenance"] = provenance_union(results["cells"])
        atomic_write_text(path, json.dumps(results, indent=2, sort_keys=True))


def without_provenance(cell: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in cell.items() if key != "provenance"}


def mark_unrecorded(cells: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Give every cell written before per-cell provenance a provenance that says so, with only what is known: the
    seed its key or its fields name (None when neither does). Nothing else is filled in."""
    for key, cell in cells.items():
        if "provenance" not in cell:
            cell["provenance"] = {"recorded": False, "seed": seed_named_by(key, cell), "note": UNRECORDED}
    return cells


def seed_named_by(key: str, cell: Mapping[str, Any]) -> int | None:
    """The seed a legacy cell's ``seed`` field or key names: ``.../seed2``, ``kd/4L/s2`` (text), ``name|method|2``
    (tabular, method defaults); None for a cell no seed identifies (a timing, a cache build)."""
    if isinstance(cell.get("seed"), int):
        return cell["seed"]
    match = re.search(r"(?:seed|/s|\|)(\d+)$", key)
    return int(match.group(1)) if match else None


def record_cell(results: dict[str, Any], key: str, cell: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """Put ``cell`` into ``results["cells"][key]`` with this process's provenance (``seed``: the cell's seed, None
    for a cell no seed acts on); returns the stored cell."""
    results["cells"][key] = {**cell, "provenance": provenance(seed)}
    return results["cells"][key]


def provenance(seed: int | None) -> dict[str, Any]:
    """What produced a cell: its seed, torch threads, package versions, machine (and its load when the cell
    finished), code commit, command and time."""
    return {"recorded": True, "seed": seed, "torch_threads": torch.get_num_threads(),
            "packages": package_versions(), "machine": machine(), "load_average_1min": round(os.getloadavg()[0], 2),
            "code": CODE_AT_IMPORT,
            "command": " ".join(["python", *sys.argv]), "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def provenance_union(cells: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The file-level summary: every seed, thread count, package version, machine and commit any cell records, and
    how many cells predate per-cell provenance (their seed may be known from their key; the rest is not)."""
    records = [cell.get("provenance", {}) for cell in cells.values()]
    recorded = [record for record in records if record.get("recorded")]
    packages: dict[str, set[str]] = {}
    for record in recorded:
        for name, version in record["packages"].items():
            packages.setdefault(name, set()).add(version)
    machines = []
    for record in recorded:
        if record["machine"] not in machines:
            machines.append(record["machine"])
    return {"cells": len(records), "cells_without_recorded_provenance": len(records) - len(recorded),
            "seeds": sorted({record["seed"] for record in records if record.get("seed") is not None}),
            "torch_threads": sorted({record["torch_threads"] for record in recorded}),
            "packages": {name: sorted(versions) for name, versions in sorted(packages.items())},
            "machines": machines, "code": sorted({str(record["code"]) for record in recorded})}


def describe_provenance(results: Mapping[str, Any]) -> str:
    """One markdown line from the file-level union, for a report's footer."""
    summary = results.get("provenance") or provenance_union(results.get("cells", {}))
    machines = "; ".join(f"{m['cpu']} ({m['cores']} cores, {m['system']})" for m in summary["machines"]) or "unknown"
    packages = ", ".join(f"{name} {'/'.join(versions)}" for name, versions in summary["packages"].items()) or "unknown"
    line = (f"Provenance (union over {summary['cells']} cells): seeds {summary['seeds']}; torch threads "
            f"{summary['torch_threads'] or 'unknown'}; machines: {machines}; packages: {packages}.")
    if summary["cells_without_recorded_provenance"]:
        line += (f" {summary['cells_without_recorded_provenance']} cells predate per-cell provenance: their threads, "
                 "versions and machine are unknown")
        legacy = {key: value for key, value in results.get("last_invocation_before_provenance", {}).items()
                  if key in ("machine", "versions", "torch_threads")}
        line += f" (the last invocation before it recorded {legacy})." if legacy else "."
    return line


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def machine() -> dict[str, Any]:
    """CPU model, core count and OS (the deploy report's description, without its thread count: threads are
    recorded per cell)."""
    described = runtime_machine(torch.get_num_threads())
    return {"cpu": described["cpu"], "cores": described["cores"], "system": described["system"]}


def code_commit() -> str | None:
    """The git commit of the benchmark code, with ``-dirty`` when the tree has uncommitted changes; None outside git."""
    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


# read once, when the script starts: the commit of the code this process runs, not of a later checkout
CODE_AT_IMPORT = code_commit()


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_mean_std(values: list[float], digits: int = 1) -> str:
    mean, std = mean_std(values)
    if mean != mean:
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"
