"""The procedure registry: experiment-level distillation procedures selectable by name (benchmark, YAML)."""

from __future__ import annotations

from typing import Any

from kdistill.registry import Registry

PROCEDURES = Registry("procedure")


def run_procedure(name: str, splits: Any, **arguments: Any) -> dict[str, Any]:
    """Run a registered procedure on ``splits`` with flat keyword arguments (unknown ones are rejected by name)."""
    return PROCEDURES.build(name, splits=splits, **arguments)
