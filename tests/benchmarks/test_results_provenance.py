"""benchmarks/common.py: every cell carries the provenance of the process that made it, and the file-level
provenance is the union over the cells - never the last invocation's alone."""

import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

COMMON = Path(__file__).parents[2] / "benchmarks" / "common.py"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", COMMON)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_cell_records_seed_threads_packages_and_machine(common):
    results = {"cells": {}}
    cell = common.record_cell(results, "kd/seed2", {"accuracy": 0.9}, seed=2)
    provenance = cell["provenance"]
    assert provenance["recorded"] and provenance["seed"] == 2
    assert provenance["torch_threads"] == torch.get_num_threads()
    assert provenance["packages"]["torch"] == importlib.metadata.version("torch")
    assert {"cpu", "cores", "system"} <= set(provenance["machine"]) and provenance["machine"]["cores"] >= 1
    assert results["cells"]["kd/seed2"]["accuracy"] == 0.9


def test_file_level_seeds_are_the_union_of_every_invocation(common, tmp_path, monkeypatch):
    """The bug: feature_methods.json said "seeds": [0] - the last invocation's - although its cells had 3 seeds."""
    path = tmp_path / "bench.json"
    for seed, threads in ((0, 1), (1, 2), (2, 1)):  # three invocations, one seed each, as the parallel runs do
        monkeypatch.setattr(common.torch, "get_num_threads", lambda threads=threads: threads)
        results = common.load_results(path)
        common.record_cell(results, f"kd/seed{seed}", {"accuracy": 0.9}, seed=seed)
        common.save_results(path, results)
    on_disk = json.loads(path.read_text())
    assert on_disk["provenance"]["seeds"] == [0, 1, 2]
    assert on_disk["provenance"]["torch_threads"] == [1, 2]
    assert on_disk["provenance"]["cells"] == 3 and on_disk["provenance"]["cells_without_recorded_provenance"] == 0
    assert [on_disk["cells"][f"kd/seed{seed}"]["provenance"]["torch_threads"] for seed in range(3)] == [1, 2, 1]


def test_a_new_cell_without_provenance_is_refused(common, tmp_path):
    results = {"cells": {"kd/seed0": {"accuracy": 0.9}}}
    with pytest.raises(ValueError, match="kd/seed0.*record_cell"):
        common.save_results(tmp_path / "bench.json", results)


def test_legacy_cells_are_marked_unknown_not_invented(common, tmp_path):
    path = tmp_path / "bench.json"
    legacy = {"kd/seed1": {"accuracy": 0.9}, "cifar/pair/timing": {"ratio": 1.1}, "adult|tree|2": {"auc": 0.8},
              "kd/4L/s2": {"accuracy": 0.7}}
    path.write_text(json.dumps({"cells": legacy}))
    results = common.load_results(path)  # a rerun adds one cell beside the legacy ones
    common.record_cell(results, "kd/seed0", {"accuracy": 0.8}, seed=0)
    common.save_results(path, results)
    cells = json.loads(path.read_text())["cells"]
    assert {key: cells[key]["provenance"]["seed"] for key in legacy} == \
        {"kd/seed1": 1, "cifar/pair/timing": None, "adult|tree|2": 2, "kd/4L/s2": 2}
    for key in legacy:
        assert cells[key]["provenance"]["recorded"] is False
        assert set(cells[key]["provenance"]) == {"recorded", "seed", "note"}  # nothing else claimed
    summary = json.loads(path.read_text())["provenance"]
    assert summary["cells_without_recorded_provenance"] == 4 and summary["seeds"] == [0, 1, 2]


def test_a_process_holding_legacy_cells_saves_after_another_marked_them(common, tmp_path):
    """Two processes load a legacy file; the first save marks its cells; the second still holds them unmarked."""
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"cells": {"kd/seed1": {"accuracy": 0.9}}}))
    first, second = common.load_results(path), common.load_results(path)
    common.record_cell(first, "kd/seed0", {"accuracy": 0.8}, seed=0)
    common.save_results(path, first)
    common.record_cell(second, "kd/seed2", {"accuracy": 0.7}, seed=2)
    common.save_results(path, second)
    cells = json.loads(path.read_text())["cells"]
    assert sorted(cells) == ["kd/seed0", "kd/seed1", "kd/seed2"]
    assert cells["kd/seed1"]["provenance"]["recorded"] is False and cells["kd/seed2"]["provenance"]["recorded"]


def test_the_commit_recorded_is_the_one_the_process_started_from(common, monkeypatch):
    """A long run records cells after later commits; the code it runs is the one it imported."""
    monkeypatch.setattr(common, "code_commit", lambda: "a-later-checkout")
    assert common.provenance(0)["code"] == common.CODE_AT_IMPORT != "a-later-checkout"
