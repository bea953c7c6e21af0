"""``kdistill procedure``: run an experiment-level procedure (ensemble, dml, born-again, byot, specialist,
omitted-class, limited-data) from a spec.

    kdistill procedure list
    kdistill procedure run omitted-class-mnist args.omitted=[7] --out runs/omitted-7
    kdistill procedure run my-spec.yaml seed=1

The lead wires ``add_procedure_commands`` / ``run_procedure_command`` into the main CLI.
"""

from __future__ import annotations

import argparse
import json

from kdistill.cli_parsers import add_procedure_commands  # noqa: F401  (defined there, without heavy imports)
from kdistill.procedures.registry import PROCEDURES
from kdistill.procedures.spec import builtin_specs, load_spec, read_yaml, run_spec


def run_procedure_command(args: argparse.Namespace) -> int:
    if args.procedure_command == "list":
        for name, description in PROCEDURES.describe().items():
            print(f"{name:15s} {description}")
        print()
        for name, path in sorted(builtin_specs().items()):
            print(f"spec {name:20s} {read_yaml(path).get('description', '')}")
        return 0
    result = run_spec(load_spec(args.spec, args.overrides), args.out)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
