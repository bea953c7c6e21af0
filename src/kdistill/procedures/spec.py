"""Procedure specs: a recipe-like YAML that names a registered procedure, its data and its flat arguments.

    description: "..."
    procedure: omitted-class          # a name in PROCEDURES
    seed: 0
    data: {dataset: mnist, val_size: 5000, train_limit: null, test_limit: null}
    args: {omitted: [3], teacher_model: {model: mlp, model_args: {hidden: [1200, 1200]}}, ...}

Overrides ``key=value`` apply as for recipes (``args.omitted=[7]``, ``seed=1``). Unknown keys and arguments are
ConfigErrors naming them. :func:`run_spec` writes the resolved spec and the result into an output folder.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kdistill.atomic import atomic_write_text
from kdistill.config.load import apply_override, parse_override, read_yaml
from kdistill.errors import ConfigError
from kdistill.procedures.common import load_splits
from kdistill.procedures.registry import PROCEDURES
from kdistill.registry import check_kwargs

TOP_LEVEL_KEYS = {"description", "procedure", "seed", "data", "args"}
DATA_KEYS = {"dataset", "val_size", "train_limit", "test_limit", "options"}


def builtin_specs() -> dict[str, Path]:
    """Shipped procedure specs by name (file stem)."""
    folder = resources.files("kdistill") / "procedures" / "specs"
    return {Path(str(entry)).stem: Path(str(entry)) for entry in folder.iterdir() if str(entry).endswith(".yaml")}


def load_spec(name_or_path: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a builtin spec (by name) or a YAML file, apply overrides and validate it (without running anything)."""
    path = Path(name_or_path) if name_or_path.endswith((".yaml", ".yml")) else builtin_specs().get(name_or_path)
    if path is None or not path.exists():
        raise ConfigError(f"no procedure spec {name_or_path!r}; builtin: {', '.join(sorted(builtin_specs()))} "
                          "(or pass a .yaml file)")
    spec = read_yaml(path)
    for override in overrides or []:
        apply_override(spec, *parse_override(override))
    validate_spec(spec)
    return spec


def validate_spec(spec: dict[str, Any]) -> None:
    unknown = sorted(set(spec) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown procedure spec key(s) {', '.join(unknown)}; valid keys: "
                          f"{', '.join(sorted(TOP_LEVEL_KEYS))}")
    if "procedure" not in spec or "data" not in spec:
        raise ConfigError("a procedure spec needs 'procedure' (a registered name) and 'data' ({dataset: ...})")
    unknown = sorted(set(spec["data"]) - DATA_KEYS)
    if unknown or "dataset" not in spec["data"]:
        raise ConfigError(f"data needs 'dataset' and takes only {', '.join(sorted(DATA_KEYS))}; got {spec['data']}")
    arguments = dict(spec.get("args") or {})
    if {"splits", "seed", "teacher"} & set(arguments):
        raise ConfigError("args may not set splits, seed or teacher (seed is a top-level key)")
    check_kwargs(PROCEDURES.get(spec["procedure"]), {**arguments, "seed": 0}, f"procedure '{spec['procedure']}'")


def run_spec(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Run a validated spec; write ``procedure.yaml`` (resolved) and ``result.json`` into ``out_dir``."""
    validate_spec(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "procedure.yaml", yaml.safe_dump(spec, sort_keys=False))
    seed = int(spec.get("seed", 0))
    data = {"val_size": 5000, **spec["data"]}
    splits = load_splits(data["dataset"], data["val_size"], seed, data.get("train_limit"), data.get("test_limit"),
                         data.get("options"))
    result = PROCEDURES.build(spec["procedure"], splits=splits, seed=seed, **dict(spec.get("args") or {}))
    atomic_write_text(out_dir / "result.json", json.dumps(result, indent=2, sort_keys=True))
    return result
