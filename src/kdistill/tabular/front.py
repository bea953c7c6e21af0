"""The accuracy-latency front of a student search, drawn as a PNG: validation score against ms per 1k rows.

Points: every candidate (family and size) trained distilled and direct, the teacher, the chosen student circled and
the latency budget as a vertical line; the line through the points no other point beats on both axes is the front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kdistill.errors import ConfigError
from kdistill.tabular.selection import pareto_front

MARKERS = {"tree": "o", "boosting": "s", "mlp": "^", "linear": "D"}
COLOURS = {"distilled": "tab:blue", "direct": "tab:orange"}


def draw_front(candidates: list[dict[str, Any]], path: str | Path, metric: str,
               teacher: dict[str, float] | None = None, max_latency_ms: float | None = None) -> Path:
    """Write the scatter of ``candidates`` (rows of ``estimator.candidates_``) to ``path``; returns the path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ConfigError("drawing the accuracy-latency front needs matplotlib: pip install 'kdistill[plots]'") from error
    rows = [row for row in candidates if "latency_ms_per_1k" in row]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        axes.scatter(row["latency_ms_per_1k"], row["score"], marker=MARKERS.get(row["family"], "x"),
                     color=COLOURS[row["variant"]], alpha=0.8 if row.get("within_budget", True) else 0.3)
        if row.get("chosen"):
            axes.scatter(row["latency_ms_per_1k"], row["score"], s=200, facecolors="none", edgecolors="black")
    front = pareto_front(rows + ([{**teacher, "family": "teacher"}] if teacher else []))
    axes.plot([r["latency_ms_per_1k"] for r in front], [r["score"] for r in front], color="grey", lw=1, ls=":")
    if teacher:
        axes.scatter(teacher["latency_ms_per_1k"], teacher["score"], marker="*", s=180, color="tab:red", label="teacher")
    for variant, colour in COLOURS.items():
        axes.scatter([], [], color=colour, label=variant)
    for family, marker in MARKERS.items():
        if any(row["family"] == family for row in rows):
            axes.scatter([], [], marker=marker, color="grey", label=family)
    if max_latency_ms is not None:
        axes.axvline(max_latency_ms, color="tab:red", ls="--", lw=1, label="latency budget")
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms per 1k rows (median, log scale)")
    axes.set_ylabel(f"validation {metric}")
    axes.set_title("students: distilled vs direct (circled: chosen)")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return Path(path)
