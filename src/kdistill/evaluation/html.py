"""report.html: one self-contained page per run - no server, no network, no script; every figure is a PNG embedded
as a data URI, and a Content-Security-Policy forbids the page from loading anything else.

Sections: the comparison table, training curves of all stages, teacher-vs-student confusion matrices and their
difference, reliability diagrams, per-class accuracy, the teacher's class similarity from its soft targets at the
method's temperature, the teacher cost, notes and the resolved config. Everything is drawn from report.json (its
``figures`` and ``histories``, see ``figure_data``), so ``kdistill report RUN_DIR`` re-renders the page.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_write_text
from kdistill.errors import KdistillError
from kdistill.training.history import read_records

log = logging.getLogger("kdistill")

REPORT_HTML = "report.html"
# no scripts, no fetches: images only from data: URIs, styles only inline
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.meta, figcaption, .legend { color: #555; font-size: .9rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: .8rem 0; background: #fff; }
th, td { padding: .35rem .7rem; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } th { background: #f0f0f3; }
figure { margin: 1rem 0; background: #fff; padding: .6rem; border: 1px solid #e3e3e3; }
figure img { max-width: 100%; height: auto; display: block; }
pre { background: #fff; border: 1px solid #e3e3e3; padding: .8rem; overflow-x: auto; font-size: .8rem; }
.missing { color: #8a5a00; } .wide { overflow-x: auto; }
"""

TEACHER_COST_ROWS = [
    ("teacher_flops_per_sample", "teacher MFLOPs per sample", lambda v: f"{v / 1e6:.3f}"),
    ("student_flops_per_sample", "student MFLOPs per sample", lambda v: f"{v / 1e6:.3f}"),
    ("teacher_share_of_step_uncached", "teacher's share of an uncached training step", lambda v: f"{100 * v:.0f}%"),
    ("epoch_seconds_recompute", "epoch seconds, teacher recomputed", lambda v: f"{v:.1f}"),
    ("epoch_seconds_cached", "epoch seconds, teacher cached", lambda v: f"{v:.1f}"),
    ("speedup", "speedup from the cache", lambda v: f"{v:.2f}x"),
    ("measured_epoch_seconds", "measured epoch seconds of the run", lambda v: f"{v:.1f}"),
    ("cache_bytes_per_sample", "cache bytes per sample", lambda v: f"{v:.0f}"),
    ("cache_build_seconds", "cache build seconds", lambda v: f"{v:.1f}"),
]


def write_html(run_dir: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Render ``report`` to ``run_dir/report.html`` (atomically) and return the path."""
    path = Path(run_dir) / REPORT_HTML
    atomic_write_text(path, render_html(report, run_dir))
    return path


def render_html(report: dict[str, Any], run_dir: str | os.PathLike | None = None) -> str:
    from kdistill.evaluation.report import table_columns

    title = report.get("title", "kdistill report")
    figures = report.get("figures") or {}
    environment = report.get("environment") or {}
    meta = [f"recipe {report.get('recipe', '-')}", f"torch {environment.get('torch', '-')}",
            f"{environment.get('threads', '-')} thread(s)", f"{environment.get('machine', '')}"]
    sections = [
        ("comparison", "Comparison", table_html(report, table_columns(report))),
        ("curves", "Training curves", figure_html("fig-curves", "Loss and validation accuracy per epoch of every "
                                                  "stage", lambda p: p.draw_training_curves(histories(report, run_dir)),
                                                  bool(histories(report, run_dir)))),
        ("confusion", "Confusion: teacher vs student", confusion_html(figures)),
        ("reliability", "Reliability", figure_html(
            "fig-reliability", "Accuracy against confidence per bin (the diagonal is perfect calibration)",
            lambda p: p.draw_reliability(figures["reliability"]), "reliability" in figures)),
        ("per-class", "Per-class accuracy", figure_html(
            "fig-per-class", "Accuracy on each true class, every model",
            lambda p: p.draw_per_class_accuracy(figures["per_class_accuracy"], figures["class_names"]),
            "per_class_accuracy" in figures)),
        ("similarity", "Dark knowledge: the teacher's class similarity", similarity_html(figures)),
        ("teacher-cost", "Teacher cost", teacher_cost_html(report.get("teacher_cost"))),
        ("notes", "Notes", "<ul>" + "".join(f"<li>{esc(note)}</li>" for note in report.get("notes", [])) + "</ul>"),
        ("config", "Config", "<details><summary>resolved recipe</summary><pre>"
         + esc(json.dumps(report.get("config", {}), indent=2, default=str)) + "</pre></details>"),
    ]
    return page(title, " · ".join(esc(part) for part in meta if part), sections)


def page(title: str, meta: str, sections: list[tuple[str, str, str]]) -> str:
    nav = "".join(f'<a href="#{anchor}">{esc(heading)}</a>' for anchor, heading, _ in sections)
    body = "".join(f'<section id="{anchor}"><h2>{esc(heading)}</h2>{content}</section>'
                   for anchor, heading, content in sections)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
            f'<body><main><h1>{esc(title)}</h1><p class="meta">{meta}</p><nav>{nav}</nav>\n{body}\n'
            "</main></body></html>\n")


def table_html(report: dict[str, Any], columns: list[tuple[str, Callable[[str, dict[str, Any]], str]]]) -> str:
    header = "".join(f"<th>{esc(name)}</th>" for name, _ in columns)
    rows = "".join("<tr>" + "".join(f"<td>{esc(name if index == 0 else cell(name, row))}</td>"
                                    for index, (_, cell) in enumerate(columns)) + "</tr>"
                   for name, row in report.get("models", {}).items())
    return (f'<div class="wide"><table id="comparison-table"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody>'
            "</table></div>"
            '<p class="legend">Latency: median ms per forward pass (interquartile range in parentheses). '
            "Agreement: share of test inputs where the model predicts the teacher's class. NLL: mean negative "
            "log-likelihood. ECE: expected calibration error (15 bins).</p>")


def figure_html(figure_id: str, caption: str, draw: Callable[[Any], Any], available: bool = True) -> str:
    """An ``<img>`` with the PNG inline, or a note saying why the figure is missing."""
    if not available:
        return '<p class="missing">not in this report.json (written by an older kdistill); rerun the evaluation.</p>'
    try:
        from kdistill.evaluation import plots

        png = plots.figure_png(draw(plots))
    except KdistillError as error:  # matplotlib missing
        return f'<p class="missing">{esc(str(error))}</p>'
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img id="{figure_id}" alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def confusion_html(figures: dict[str, Any]) -> str:
    confusion = figures.get("confusion") or {}
    reference, student = figures.get("reference"), figures.get("student")
    caption = (f"Error rates of the {reference} and the {student} student per (true, predicted) pair, and their "
               "difference (red: the student confuses the pair more)")
    return figure_html("fig-confusion", caption, lambda p: p.draw_confusion(
        confusion[reference], confusion[student], figures["class_names"],
        "student alone" if reference == "baseline" else str(reference)),
        reference in confusion and student in confusion)


def similarity_html(figures: dict[str, Any]) -> str:
    similarity = figures.get("similarity")
    if similarity is None:
        return ('<p class="missing">no pre-trained teacher in this run (or too many classes to draw): no soft '
                "targets to show.</p>")
    caption = (f"Row i: the teacher's mean probability for each class j over test inputs of class i, at the "
               f"method's temperature T = {similarity['temperature']:g}: the similarities the student learns beyond "
               "the labels")
    return figure_html("fig-similarity", caption, lambda p: p.draw_class_similarity(
        similarity["matrix"], figures["class_names"], similarity["temperature"]))


def teacher_cost_html(cost: dict[str, Any] | None) -> str:
    if not cost:
        return '<p class="missing">no teacher in this run: nothing to cost.</p>'
    rows = "".join(f"<tr><td>{esc(label)}</td><td>{esc(show(cost[key]))}</td></tr>"
                   for key, label, show in TEACHER_COST_ROWS if cost.get(key) is not None)
    from kdistill.cache.profiling import describe

    return f'<table id="teacher-cost-table"><tbody>{rows}</tbody></table><p class="legend">{esc(describe(cost))}</p>'


def histories(report: dict[str, Any], run_dir: str | os.PathLike | None) -> dict[str, list[dict[str, Any]]]:
    """Per-stage epoch records: from report.json, else from the stage folders' metrics.jsonl (older reports)."""
    if report.get("histories"):
        return report["histories"]
    if run_dir is None:
        return {}
    found = {name: read_records(Path(run_dir) / name / "metrics.jsonl") for name in report.get("models", {})}
    return {name: records for name, records in found.items() if records}


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)
