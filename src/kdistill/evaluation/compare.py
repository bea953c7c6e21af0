"""``kdistill compare RUN_DIR ...``: several runs side by side in one self-contained page.

The page lists the recipe keys whose values differ between the runs, one table with every run's models, and each
stage's validation accuracy and loss per epoch with one line per run. A console table is printed too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_write_text
from kdistill.errors import ConfigError
from kdistill.evaluation.html import esc, figure_html, histories, page
from kdistill.evaluation.report import _fixed, _latency, _percent, load_report

COLUMNS = [("run", None), ("model", None), ("test acc %", "accuracy"), ("errors", "errors"),
           ("agreement w/ teacher %", "agreement"), ("NLL", "nll"), ("ECE", "ece"), ("latency b1 ms (IQR)", None),
           ("params", "params"), ("train s", "train_seconds")]


def run_compare_command(args: argparse.Namespace) -> int:
    path = compare_runs(args.run_dirs, args.out)
    print(render_console(load_runs(args.run_dirs)))
    print(f"\npage: {path}")
    return 0


def compare_runs(run_dirs: list[Path], out: Path) -> Path:
    """Write the comparison page to ``out`` and return it."""
    runs = load_runs(run_dirs)
    atomic_write_text(out, render_comparison(runs))
    return out


def load_runs(run_dirs: list[Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """{label: (folder, report)}; labels are the folder names (the whole path when two names clash)."""
    if len(run_dirs) < 1:
        raise ConfigError("compare needs at least one RUN_DIR")
    runs: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in run_dirs:
        label = folder.name if folder.name and folder.name not in runs else str(folder)
        runs[label] = (folder, load_report(folder))
    return runs


def differing_settings(runs: dict[str, tuple[Path, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """{dotted recipe key: {run: value}} for the keys whose values are not the same in every run."""
    from kdistill.experiment.fingerprint import UNSET, flatten

    flat = {label: flatten(report.get("config", {}), "") for label, (_, report) in runs.items()}
    keys = sorted({key for values in flat.values() for key in values})
    differ = {}
    for key in keys:
        values = {label: values.get(key, UNSET) for label, values in flat.items()}
        if len({repr(value) for value in values.values()}) > 1:
            differ[key] = values
    return differ


def cells(label: str, name: str, row: dict[str, Any]) -> list[str]:
    return [label, name, _percent(row.get("accuracy")), _fixed(row.get("errors"), 0),
            _percent(row.get("agreement")), _fixed(row.get("nll"), 4), _fixed(row.get("ece"), 4), _latency(row, 1),
            f"{row['params']:,}" if row.get("params") is not None else "-", _fixed(row.get("train_seconds"), 1)]


def render_comparison(runs: dict[str, tuple[Path, dict[str, Any]]]) -> str:
    differ = differing_settings(runs)
    if differ:
        header = "<th>recipe key</th>" + "".join(f"<th>{esc(label)}</th>" for label in runs)
        rows = "".join(f"<tr><td>{esc(key)}</td>" + "".join(f"<td>{esc(values[label])}</td>" for label in runs)
                       + "</tr>" for key, values in differ.items())
        settings = f'<div class="wide"><table id="settings-table"><thead><tr>{header}</tr></thead><tbody>{rows}' \
                   "</tbody></table></div>"
    else:
        settings = "<p>The runs share every recipe setting.</p>"
    header = "".join(f"<th>{esc(name)}</th>" for name, _ in COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells(label, name, row)) + "</tr>"
                   for label, (_, report) in runs.items() for name, row in report.get("models", {}).items())
    table = f'<div class="wide"><table id="comparison-table"><thead><tr>{header}</tr></thead><tbody>{rows}' \
            "</tbody></table></div>"
    curves = {label: histories(report, folder) for label, (folder, report) in runs.items()}
    has_curves = any(curves.values())
    sections = [
        ("settings", "Settings that differ", settings),
        ("comparison", "Comparison", table),
        ("accuracy-curves", "Validation accuracy per stage", figure_html(
            "fig-compare-accuracy", "Validation accuracy per epoch, one panel per stage, one line per run",
            lambda p: p.draw_stage_curves(curves, "val_accuracy"), has_curves)),
        ("loss-curves", "Validation loss per stage", figure_html(
            "fig-compare-loss", "Validation loss per epoch, one panel per stage, one line per run",
            lambda p: p.draw_stage_curves(curves, "val_loss"), has_curves)),
    ]
    meta = " · ".join(esc(f"{label}: {folder}") for label, (folder, _) in runs.items())
    return page(f"kdistill compare: {len(runs)} run(s)", meta, sections)


def render_console(runs: dict[str, tuple[Path, dict[str, Any]]]) -> str:
    table = [[name for name, _ in COLUMNS]]
    table += [cells(label, name, row) for label, (_, report) in runs.items()
              for name, row in report.get("models", {}).items()]
    widths = [max(len(row[index]) for row in table) for index in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) if index < 2 else cell.rjust(width)
                               for index, (cell, width) in enumerate(zip(row, widths))) for row in table)
