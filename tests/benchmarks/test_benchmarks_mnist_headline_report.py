"""hinton_mnist.md renders the reproduction's seed cells in its table and mnist_headline.py's cells after it."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def stage(wall: float, cpu: float) -> dict:
    return {"wall_seconds": wall, "cpu_seconds": cpu, "load_before": 3.0, "load_after": 5.0}


def cell(seed: int, distilled: int, done: bool = True) -> dict:
    models = ("teacher", "baseline", "distilled")
    return {"tag": "recipe", "seed": seed, "done": done, "overrides": [], "note": "", "shared_teacher": False,
            "errors": dict(zip(models, (30, 140, distilled))),
            "stages": {name: stage(60.0 * (i + 1), 30.0) for i, name in
                       enumerate(("teacher", "cache", "distilled", "baseline", "report"))}}


def test_headline_rows_render_after_the_reproduction_and_only_when_finished(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("hinton_mnist", None)
    from hinton_mnist import render

    reproduction = {"seed": 0, "errors": {"teacher": 117, "baseline": 162, "distilled": 128},
                    "accuracy": {"teacher": 0.98, "baseline": 0.98, "distilled": 0.98},
                    "agreement": {"teacher": None, "baseline": 0.98, "distilled": 0.99},
                    "train_seconds": {"teacher": 1.0, "baseline": 1.0, "distilled": 1.0},
                    "params": {"teacher": 2.4e6, "baseline": 1.28e6, "distilled": 1.28e6}}
    results = {"cells": {"seed0": reproduction, "headline:recipe:seed0": cell(0, 40),
                         "headline:recipe:seed1": cell(1, 50), "headline:recipe:seed2": cell(2, 99, done=False)}}
    text = render(results, "hinton-mnist")
    assert "- seed 0: 117 / 162 / 128" in text  # the reproduction's own table still reads only its cells
    row = next(line for line in text.splitlines() if line.startswith("| recipe |"))
    assert "| 0,1 | 45.0 ± 7.1 |" in row  # the unfinished seed 2 is left out; sample std
    assert "| 6.0 ± 0.0 (1.5 ± 0.0) |" in row  # recipe = teacher 1 + cache 2 + distilled 3 minutes (CPU 3 x 0.5)
