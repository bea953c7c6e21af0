"""benchmarks/strategies.py describes its experiments with the specs it runs, so its text cannot drift from them."""

import importlib.util
import sys
from pathlib import Path

from kdistill.procedures.spec import load_spec

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "strategies.py"


def load_script():
    spec = importlib.util.spec_from_file_location("strategies_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_help_lists_every_experiment_with_its_specs_description():
    bench = load_script()
    assert set(bench.SPECS) == set(bench.EXPERIMENTS)
    text = bench.experiments_help()
    for name in bench.EXPERIMENTS:
        assert f"  {name} (spec {bench.SPECS[name]}): {load_spec(bench.SPECS[name])['description']}" in text
        assert name in bench.__doc__


def test_the_consistent_ensemble_spec_says_what_it_runs():
    """The docstring once promised a student trained 3x the members' epochs beside a label-only control; the spec
    trains it on the members' schedule, where the procedure runs no control."""
    spec = load_spec("ensemble-consistent-fashion")
    assert "distill_train" not in spec["args"] and "members' schedule" in spec["description"]
    assert f"{spec['args']['train']['epochs']} epochs" in spec["description"]
    assert f"±{spec['args']['jitter']} px" in spec["description"]
