"""ONNX Runtime sessions pinned to a thread count, and a clear message when the export extra is missing."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kdistill.errors import ConfigError

INSTALL = "pip install 'kdistill[export]'"


def require(*modules: str) -> None:
    """Import ``modules`` or fail in one line naming the extra that brings them."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(f"ONNX export needs {name}, which is not installed: {INSTALL}") from error


def session(path: str | Path, threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU using ``threads`` threads (intra- and inter-op)."""
    require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's problem
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def versions() -> dict[str, str]:
    """Versions of the libraries an export report depends on (missing ones are left out)."""
    found = {}
    for name in ("torch", "onnx", "onnxruntime", "onnxscript", "sklearn", "numpy"):
        try:
            found[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            continue
    return found


def machine(threads: int) -> dict[str, Any]:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:  # the model name says more than "x86_64"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "python": platform.python_version(),
            "system": platform.system()}
