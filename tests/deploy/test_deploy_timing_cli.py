"""Latency measured in turns (median and IQR), and the `kdistill export` command line."""

import pytest

from kdistill.cli import build_parser, main
from kdistill.deploy.timing import interleaved_latency, summarise


def test_variants_are_timed_in_rotating_turns():
    calls = []
    variants = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    result = interleaved_latency(variants, repeats=3, warmup=1)
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")  # warm-up, then each repeat rotated by one
    assert set(result) == {"a", "b", "c"} and all(row["repeats"] == 3 for row in result.values())


def test_summary_is_median_and_interquartile_range():
    row = summarise([1.0, 2.0, 3.0, 4.0, 100.0])
    assert row["median_ms"] == 3.0 and row["q1_ms"] == 2.0 and row["q3_ms"] == 4.0 and row["iqr_ms"] == 2.0
    with pytest.raises(ValueError, match="at least 2 repeats"):
        interleaved_latency({"a": lambda: None}, repeats=1)


def test_export_parser_defaults():
    args = build_parser().parse_args(["export", "runs/x"])
    assert (args.format, args.int8, args.int8_mode, args.threads, args.stage, args.out) == \
        ("onnx", False, "auto", 1, None, None)


def test_export_command_writes_the_files_and_prints_the_report(mlp_run, tmp_path, capsys):
    run_dir, _ = mlp_run
    out = tmp_path / "deploy"
    assert main(["export", str(run_dir), "--int8", "--repeats", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| ONNX int8 |" in printed and "batch 256" in printed and "student.int8.onnx" in printed
    assert {path.name for path in out.iterdir()} >= {"student.onnx", "student.int8.onnx", "export.json", "export.md"}


def test_export_command_errors_are_one_line(tmp_path, mlp_run, capsys):
    assert main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdistill: error: ") and "not a kdistill run directory" in err and err.count("\n") == 1
    assert main(["export", str(mlp_run[0]), "--stage", "finetuned", "--no-latency"]) == 2
    assert "no finished finetuned stage" in capsys.readouterr().err
    assert main(["export", str(mlp_run[0]), "--repeats", "1"]) == 2
    assert "repeats >= 2" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["export", str(mlp_run[0]), "--out", str(tmp_path / "file"), "--no-latency"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_export_help_and_import_kdistill_load_no_heavy_library():
    import os
    import subprocess
    import sys
    from pathlib import Path

    import kdistill

    probe = ("import sys\nimport kdistill\nkdistill.export\nfrom kdistill.cli import main\ntry:\n    main(['export', "
             "'--help'])\nexcept SystemExit:\n    pass\nprint('heavy:', *[m for m in ('torch', 'onnx', 'onnxruntime', "
             "'sklearn') if m in sys.modules])")
    src = str(Path(kdistill.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert "--int8" in done.stdout
    assert done.stdout.splitlines()[-1] == "heavy:"
