"""Run reports: a plain JSON-able dict, rendered as markdown (report.md) and as a compact console table.

A report looks like::

    {"title": str, "recipe": str, "config": {...resolved config...},
     "models": {name: {"params", "flops_per_sample", "latency_ms": {"1": ms, "256": ms}, "size_bytes",
                       "accuracy", "errors", "count", "nll", "ece", "agreement", "train_seconds"}},
     "notes": [str, ...],
     "reference": {name: {"errors": number, "source": str}}}      # optional: published numbers to compare with

Any per-model key may be missing or None; it renders as "-".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_write_text
from kdistill.errors import KdistillError

MISSING = "-"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def render_markdown(report: dict[str, Any]) -> str:
    """Title, recipe, one table row per model (plus a "paper errors" column when a reference is given), notes."""
    reference = report.get("reference") or {}
    columns = table_columns(report)
    models = report.get("models", {})

    lines = [f"# {report.get('title', 'kdistill report')}", ""]
    if report.get("recipe"):
        lines += [f"Recipe: `{report['recipe']}`", ""]
    lines.append("| " + " | ".join(header for header, _ in columns) + " |")
    lines.append("|" + "|".join(":---" if i == 0 else "---:" for i in range(len(columns))) + "|")
    for name, row in models.items():
        lines.append("| " + " | ".join(cell(name, row) for _, cell in columns) + " |")
    lines.append("")
    lines.append(
        "Latency: median wall-clock ms per forward pass of a batch of that size (interquartile range in parentheses; "
        f"{_latency_setting(models)}). Size: safetensors file (MB = 1e6 bytes). NLL: mean negative log-likelihood. "
        "ECE: expected calibration error, 15 equal-width bins."
    )
    if reference:
        lines += ["", "Paper errors:"]
        for name, entry in reference.items():
            lines.append(f"- {name}: {_number(entry.get('errors'))} ({entry.get('source', 'no source given')})")
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    if report.get("config"):
        lines += ["", "## Config", "", "```json", json.dumps(report["config"], indent=2, default=str), "```"]
    return "\n".join(lines) + "\n"


def table_columns(report: dict[str, Any]) -> list[tuple[str, Callable[[str, dict[str, Any]], str]]]:
    """(header, cell(name, row) -> text) of the comparison table: shared by report.md and report.html."""
    reference = report.get("reference") or {}
    models = report.get("models", {})
    columns: list[tuple[str, Callable[[str, dict[str, Any]], str]]] = [
        ("model", lambda name, row: name.replace("|", "\\|")),
        ("params", lambda name, row: _count(row.get("params"))),
        ("MFLOPs/sample", lambda name, row: _scaled(row.get("flops_per_sample"), 1e6, 3)),
        *[(f"latency b{size} ms", lambda name, row, size=size: _latency(row, size)) for size in latency_sizes(models)],
        ("size MB", lambda name, row: _scaled(row.get("size_bytes"), 1e6, 3)),
        ("test acc %", lambda name, row: _percent(row.get("accuracy"))),
        ("errors", lambda name, row: _number(row.get("errors"))),
        ("agreement w/ teacher %", lambda name, row: _percent(row.get("agreement"))),
        ("NLL", lambda name, row: _fixed(row.get("nll"), 4)),
        ("ECE", lambda name, row: _fixed(row.get("ece"), 4)),
    ]
    if any(row.get("train_seconds") is not None for row in models.values()):
        columns.append(("train s", lambda name, row: _fixed(row.get("train_seconds"), 1)))
    if any(row.get("extra_training_parameters") for row in models.values()):
        # connectors / embedding heads a method trains beside the student; not part of the exported student
        columns.insert(2, ("extra train params", lambda name, row: _count(row.get("extra_training_parameters"))))
    if reference:
        columns.append(("paper errors", lambda name, row: _number(reference.get(name, {}).get("errors"))))
    return columns


def latency_sizes(models: dict[str, dict[str, Any]]) -> list[int]:
    """The batch sizes whose latency the rows hold, in order (1 and 256 when none do)."""
    sizes = dict.fromkeys(int(size) for row in models.values() for size in (row.get("latency_ms") or {}))
    return list(sizes) or [1, 256]


def render_terminal_table(report: dict[str, Any]) -> str:
    """A fixed-width table for the console: model, acc %, errors, params, latency b1 ms, agreement %."""
    headers = ["model", "acc %", "errors", "params", "lat b1 ms", "agree %"]
    rows = [
        [
            name,
            _percent(row.get("accuracy")),
            _number(row.get("errors")),
            _count(row.get("params")),
            _latency(row, 1, spread=False),
            _percent(row.get("agreement")),
        ]
        for name, row in report.get("models", {}).items()
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    # Model names read best left-aligned, numbers right-aligned so their digits line up.
    def format_row(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [format_row(headers), "  ".join("-" * width for width in widths)]
    lines += [format_row(row) for row in rows]
    return "\n".join(lines)


def write_report(run_dir: str | os.PathLike, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``run_dir/report.json`` (indent 2) and ``run_dir/report.md``, each atomically; returns both paths.

    Non-finite floats (a diverged run's NaN loss) are written as null: ``NaN`` is not valid JSON for other tools.
    """
    run_dir = Path(run_dir)
    text = json.dumps(_jsonable(report), indent=2, allow_nan=False)
    json_path, md_path = run_dir / REPORT_JSON, run_dir / REPORT_MD
    atomic_write_text(json_path, text + "\n")
    atomic_write_text(md_path, render_markdown(report))
    return json_path, md_path


def load_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``run_dir/report.json`` back into the dict that ``write_report`` was given."""
    path = Path(run_dir) / REPORT_JSON
    if not path.is_file():
        raise KdistillError(f"no {REPORT_JSON} in {run_dir}; finish a run there (it writes the report) or fix the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise KdistillError(f"{path} is not valid JSON ({error}); re-run the evaluation to rewrite it") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "item") and callable(value.item):  # torch / numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # paths, dtypes and the like in a resolved config


def _latency(row: dict[str, Any], batch_size: int, spread: bool = True) -> str:
    """Median ms, with the interquartile range in parentheses when it was measured: "0.231 (0.012)"."""
    median = _keyed(row.get("latency_ms"), batch_size)
    iqr = _keyed(row.get("latency_iqr_ms"), batch_size)
    if not spread or median is None or iqr is None:
        return _fixed(median, 3)
    return f"{median:.3f} ({iqr:.3f})"


def _latency_setting(models: dict[str, dict[str, Any]]) -> str:
    """How latency was measured, from the first row that records it."""
    row = next((row for row in models.values() if row.get("latency_threads") is not None), None)
    if row is None:
        return "setting not recorded"
    return (f"torch.utils.benchmark, {row.get('latency_repeats')} measurements after {row.get('latency_warmup')} "
            f"warm-up passes, {row['latency_threads']} thread(s)")


def _keyed(values: dict[Any, Any] | None, batch_size: int) -> Any:
    # JSON turns the int keys of a freshly built dict into strings; accept both.
    values = values or {}
    return values.get(str(batch_size), values.get(batch_size))


def _fixed(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _percent(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{100.0 * fraction:.2f}"


def _scaled(value: float | None, unit: float, digits: int) -> str:
    return MISSING if value is None else f"{value / unit:.{digits}f}"


def _number(value: float | None) -> str:
    if value is None:
        return MISSING
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _count(value: int | None) -> str:
    """79510 -> "79.5K", 1234567 -> "1.23M", 11689512 -> "11.7M": parameter counts at a glance."""
    if value is None:
        return MISSING
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= unit:
            return f"{value / unit:.2f}{suffix}" if value < 10 * unit else f"{value / unit:.1f}{suffix}"
    return str(int(value))
