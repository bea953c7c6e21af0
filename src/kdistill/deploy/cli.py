"""``kdistill export RUN_DIR --format onnx [--int8]``: the parser (no heavy imports) and the command body."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EPILOG = """examples:
  kdistill export runs/quick-20261123-140000                 # -> RUN_DIR/export/student.onnx + export.md
  kdistill export runs/quick-20261123-140000 --int8          # also student.int8.onnx, compared in the report
  kdistill export runs/quick-20261123-140000 --stage baseline --out deploy/ --no-latency
"""


def add_export_command(subparsers: Any) -> None:
    from kdistill.cli_parsers import add_plugin_option

    export = subparsers.add_parser(
        "export", help="export a run's student to ONNX (fp32, optionally int8), checked on the test set",
        description="Export the trained student of RUN_DIR to ONNX with a dynamic batch axis (input 'inputs', "
        "output 'logits'; class names in the file's metadata), check it against the PyTorch student on the run's "
        "test set (max logit difference, label agreement, accuracy) and write RUN_DIR/export/export.md with file "
        "sizes and latency at batch 1 and 256 (ONNX Runtime fp32 / int8, PyTorch student, PyTorch teacher; median "
        "and IQR). The files run with nothing but onnxruntime and numpy.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("run_dir", type=Path, help="a run directory written by `kdistill run`")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default: onnx)")
    export.add_argument("--int8", action="store_true", help="also write an int8-quantised copy and compare it")
    export.add_argument("--int8-mode", choices=("auto", "dynamic", "static"), default="auto",
                        help="auto (default): static (calibrated on validation inputs) for convolutional nets, "
                        "dynamic for the rest")
    export.add_argument("--stage", choices=("distilled", "finetuned", "baseline", "teacher"), default=None,
                        help="which trained model to export (default: finetuned if the run fine-tuned, else distilled)")
    export.add_argument("--out", type=Path, default=None, help="output folder (default: RUN_DIR/export)")
    export.add_argument("--threads", type=int, default=1, help="threads for ONNX Runtime and PyTorch timings")
    export.add_argument("--repeats", type=int, default=50, help="timed calls per model and batch size")
    export.add_argument("--no-latency", action="store_true", help="skip the latency measurements")
    add_plugin_option(export)


def run_export_command(args: argparse.Namespace) -> int:
    from kdistill.deploy.api import export
    from kdistill.deploy.report import render_markdown

    report = export(args.run_dir, args.out, format=args.format, int8=args.int8, int8_mode=args.int8_mode,
                    stage=args.stage, threads=args.threads, repeats=args.repeats, latency=not args.no_latency)
    print(render_markdown(report))
    out = Path(report["files"]["onnx_fp32"]["path"]).parent
    print(f"written: {', '.join(Path(item['path']).name for name, item in report['files'].items() if 'onnx' in name)}"
          f", export.json, export.md in {out}")
    return 0
