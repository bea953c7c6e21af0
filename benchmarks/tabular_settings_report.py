"""Markdown summary of benchmarks/results/tabular_settings.json (validation-row scores of the settings pool)."""

from __future__ import annotations

import json
from pathlib import Path

from common import describe_provenance

HEADER = """# Tabular settings search and student study (validation rows only)

Rows: each dataset's *settings pool* = the rows that none of the test seeds (0, 1, 2) holds out as test rows
(25% test, `kdistill.tabular.splits.holdout_rows`); the pool is split 75/25 into fitting and validation rows.
Every score is on those validation rows (AUC for adult, R² for california_housing): no test row of any seed
informed a default. Teacher: LightGBM (<= 1000 trees x 63 leaves, lr 0.05) stopped early on the validation rows.
Latency: CPU ms (process_time) per 1,000 validation rows (raw DataFrame in), median (q25-q75) of 9
`predict_proba`/`predict` calls, each model timed in turns with the teacher, one thread; "x teacher" = its median over
the teacher's median from the same rounds. Size: bytes of the skops file `save_student` writes. One split (seed 0): differences under
~0.002 AUC / 0.005 R² are within noise. Written by `benchmarks/tabular_settings.py`.
"""


# student group -> its direct cell; distilled cells are the group's other cells
GROUPS = {"tree (best size of each)": ("tree/direct", "tree/", ""), "boosting 300x31": ("boosting/direct", "boosting/", ""),
          "boosting 30x15": ("boosting-small/direct", "boosting-small/", ""), "mlp 10 epochs": ("mlp/direct", "mlp/", ""),
          "mlp 30 epochs": ("mlp30/direct", "mlp30/", "")}


def gain_table(students: dict) -> list[str]:
    """Per student group: best direct score, best distilled cell and score, and the difference (computed here)."""
    lines = ["", "| student | direct | best distilled (cell) | distilled - direct |", "|---|---|---|---|"]
    for group, (direct_cell, prefix, suffix) in GROUPS.items():
        directs = [c for name, c in students.items() if name.startswith(direct_cell) and c["variant"] == "direct"
                   and c["stop_on_validation"]]
        direct = max(directs, key=lambda c: c["score"]) if directs else None
        distilled = {name: c for name, c in students.items() if name.startswith(prefix) and name.endswith(suffix)
                     and c["variant"] == "distilled" and c["stop_on_validation"]}
        if direct is None or not distilled:
            continue
        best = max(distilled, key=lambda name: distilled[name]["score"])
        lines.append(f"| {group} | {direct['score']:.4f} | {distilled[best]['score']:.4f} ({best}) | "
                     f"{distilled[best]['score'] - direct['score']:+.4f} |")
    return lines


def write_report(path: Path) -> str:
    results = json.loads(Path(path).read_text())
    cells = results["cells"].values()
    lines = [HEADER]
    for dataset in sorted({c["dataset"] for c in cells}):
        rows = [c for c in cells if c["dataset"] == dataset]
        teacher = next((c for c in rows if c["kind"] == "teacher"), None)
        first = rows[0]
        lines.append(f"\n## {dataset} ({first['task']}, {first['n_fit']:,} fitting / {first['n_val']:,} validation rows)\n")
        lines.append("| cell | multiplier | label weight | stop on val | score | latency ms/1k (q25-q75) | x teacher | "
                     "size KB | rounds | fit s |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        if teacher:
            lines.append(f"| teacher ({teacher['trees']} trees) | | | yes | {teacher['score']:.4f} | "
                         f"{teacher['latency_ms_per_1k']:.2f} ({teacher['latency_ms_per_1k_q25']:.2f}-"
                         f"{teacher['latency_ms_per_1k_q75']:.2f}) | 1 | | | {teacher['fit_seconds']:.0f} |")
        students = {key.split("|")[1]: c for key, c in results["cells"].items()
                    if c["dataset"] == dataset and c["kind"] == "student"}
        for name, c in students.items():
            lines.append(f"| {name} {c['params'] if c['family'] == 'tree' else ''} | {c['multiplier']} | "
                         f"{c['label_weight']} | {'yes' if c['stop_on_validation'] else 'no'} | {c['score']:.4f} | "
                         f"{c['latency_ms_per_1k']:.2f} ({c['latency_ms_per_1k_q25']:.2f}-{c['latency_ms_per_1k_q75']:.2f}) | "
                         f"{c['latency_vs_teacher']:.2f} | {c['size_bytes'] / 1024:.0f} | {c['rounds'] or ''} | {c['fit_seconds']:.1f} |")
        lines += gain_table(students)
        gibbs = sorted((c for c in rows if c["kind"] == "gibbs"), key=lambda c: c["multiplier"])
        if gibbs:
            lines.append("\nGibbs sampling (1 round, chunks of 50k rows): " + "; ".join(
                f"x{c['multiplier']}: {c['rows']:,} rows in {c['sample_seconds']:.1f} CPU s, peak {c['peak_mb']:.0f} MB"
                for c in gibbs))
    lines += ["", describe_provenance(results)]
    text = "\n".join(lines) + "\n"
    Path(path).with_suffix(".md").write_text(text)
    return text
