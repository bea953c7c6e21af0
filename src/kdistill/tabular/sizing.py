"""Student sizes: the default for a table of ``n_rows`` rows, and the grid a latency/size budget searches.

A tree's useful size grows with the data: a depth-6 tree (64 leaves) leaves most of a 48k-row table's structure
unused. The default leaf count is about one leaf per ``ROWS_PER_LEAF`` real fitting rows, rounded to 2^k - 1 and
kept within [``MIN_LEAVES``, ``MAX_LEAVES``] (adult's ~29k fitting rows -> 4095 leaves; a 2,000-row table -> 511).
Distilled trees keep gaining with size because the teacher's targets (on real and Gibbs rows) are smooth: on the
settings pools of ``benchmarks/results/tabular_settings.md`` (validation rows, Gibbs x5) one leaf per 4 rows beat
one per 16 and per 64 rows on adult (AUC 0.918 / 0.916 / 0.913) and california (R² 0.788 / 0.771 / 0.717). A tree
trained directly on labels overfits at that size; the never-worse comparison and the budget search's smaller
candidates cover it. Boosting and MLP students have fixed default sizes (see ``default_student_params``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ROWS_PER_LEAF = 4
MIN_LEAVES, MAX_LEAVES = 15, 4095


def scaled_leaves(n_rows: int, rows_per_leaf: int = ROWS_PER_LEAF, low: int = MIN_LEAVES, high: int = MAX_LEAVES) -> int:
    """About ``n_rows / rows_per_leaf`` leaves as 2^k - 1, clipped to [low, high]."""
    power = int(np.round(np.log2(max(n_rows / rows_per_leaf, 1.0) + 1)))
    return int(np.clip(2**power - 1, low, high))


def default_student_params(family: str, n_rows: int) -> dict[str, Any]:
    """Size arguments of student ``family`` for ``n_rows`` real training rows ({} for families without a size)."""
    if family == "tree":
        return {"max_depth": None, "max_leaf_nodes": scaled_leaves(n_rows)}
    if family == "boosting":
        return {"max_iter": 200, "max_depth": None, "max_leaf_nodes": min(31, scaled_leaves(n_rows, 64, 7, 31))}
    if family == "mlp":
        width = 128 if n_rows >= 5000 else 64
        return {"hidden": (width, width)}
    return {}


def candidate_grid(families: tuple[str, ...] = ("tree", "boosting", "mlp")) -> list[tuple[str, dict[str, Any]]]:
    """(family, params) pairs a budget search tries, small to large; each is fit distilled and direct."""
    grid: dict[str, list[dict[str, Any]]] = {
        "tree": [{"max_depth": None, "max_leaf_nodes": leaves} for leaves in (15, 63, 255, 1023, 4095)],
        # Rounds are a cap: the student stops on the validation rows (BoostingStudent), so large caps cost only the
        # rounds they use and a generous latency budget can buy accuracy with them (the candidates of
        # results/tabular_autogluon_kdistill.md); the small caps give fast candidates.
        "boosting": [{"max_iter": rounds, "max_depth": None, "max_leaf_nodes": leaves}
                     for rounds, leaves in ((30, 15), (100, 15), (100, 31), (300, 31), (1000, 31), (1000, 63))],
        "mlp": [{"hidden": (width, width)} for width in (32, 128)],
    }
    return [(family, params) for family in families for params in grid.get(family, [])]
