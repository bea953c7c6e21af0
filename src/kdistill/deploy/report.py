"""The export's own report: ``export.json`` (everything) and ``export.md`` (tables a person reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_write_text

LABELS = {"onnx_fp32": "ONNX fp32", "onnx_int8": "ONNX int8", "pytorch_student": "PyTorch student",
          "pytorch_teacher": "PyTorch teacher"}


def write_report(out: Path, report: dict[str, Any]) -> None:
    atomic_write_text(out / "export.json", json.dumps(report, indent=2))
    atomic_write_text(out / "export.md", render_markdown(report))


def render_markdown(report: dict[str, Any]) -> str:
    check, files = report["check"], report["files"]
    lines = [f"# ONNX export of {report['run_dir']} ({report['stage']} student)", ""]
    lines += [f"Checked on {check['rows']:,} test inputs against the PyTorch student. Threads: {report['threads']}; "
              f"machine: {report['machine']['cpu']}.", ""]
    lines += ["| model | test accuracy % | max abs logit diff | label agreement % | file MB |", "|---|---:|---:|---:|---:|"]
    for name in LABELS:
        if name not in check["accuracy"]:
            continue
        versus = check.get(name, {})
        diff = f"{versus['max_abs_diff']:.2e}" if versus else "-"
        agreement = f"{100 * versus['label_agreement']:.2f}" if versus else "-"
        size = f"{files[name]['size_bytes'] / 1e6:.3f}" if name in files else "-"
        lines.append(f"| {LABELS[name]} | {100 * check['accuracy'][name]:.2f} | {diff} | {agreement} | {size} |")
    if report.get("int8_mode"):
        lines += ["", f"int8: {report['int8_mode']} quantisation (ONNX Runtime)."]
    graph = report["graph"]
    lines += ["", f"Graph: {graph['graph_tensors']} stored tensors, {graph['graph_elements']:,} elements; the "
              f"student's state dict has {graph['student_elements']:,} (nothing else trained beside it is stored)."]
    if "latency_ms" in report:
        lines += ["", latency_table(report["latency_ms"], report["repeats"], report["warmup"])]
    lines += ["", f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items())}.", ""]
    return "\n".join(lines)


def latency_table(latency: dict[str, dict[str, Any]], repeats: int, warmup: int) -> str:
    sizes = list(latency)
    lines = [f"Latency ms per call, median (IQR) over {repeats} repeats after {warmup} warm-up calls, variants "
             "timed in turns:", "", "| model | " + " | ".join(f"batch {size}" for size in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for name in LABELS:
        if name not in latency[sizes[0]]:
            continue
        cells = [f"{latency[size][name]['median_ms']:.3f} ({latency[size][name]['iqr_ms']:.3f})" for size in sizes]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
