import json

import pytest

from kdistill.errors import KdistillError
from kdistill.evaluation import load_report, render_markdown, render_terminal_table, write_report


def make_report(reference=True):
    report = {
        "title": "MNIST: Hinton et al. 2015",
        "recipe": "hinton_mnist",
        "config": {"seed": 0, "temperature": 20.0},
        "models": {
            "teacher": {
                "params": 2_395_210,
                "flops_per_sample": 4_780_000,
                "latency_ms": {"1": 0.12, "256": 3.4},
                "size_bytes": 9_581_000,
                "accuracy": 0.9933,
                "errors": 67,
                "count": 10000,
                "nll": 0.0213,
                "ece": 0.0041,
                "agreement": None,
                "train_seconds": 812.5,
            },
            "student|kd": {"params": 79_510, "accuracy": 0.9874, "errors": 126, "agreement": 0.9871},
        },
        "notes": ["Teacher trained with dropout and jitter."],
    }
    if reference:
        report["reference"] = {"teacher": {"errors": 67, "source": "Hinton et al. 2015, sec. 3"}}
    return report


def test_markdown_has_every_model_and_reference_column():
    text = render_markdown(make_report())
    assert "teacher" in text and "student\\|kd" in text  # a pipe in a name must not break the table
    assert "paper errors" in text and "Hinton et al. 2015, sec. 3" in text
    assert "Teacher trained with dropout" in text
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    rows = [line for line in text.splitlines() if line.startswith("| teacher") or line.startswith("| student")]
    assert len(rows) == 2
    # Every row has as many cells as the header; missing values render as "-".
    assert all(row.count(" | ") == header.count(" | ") for row in rows)
    assert "99.33" in rows[0] and "2.40M" in rows[0] and "4.780" in rows[0]


def test_markdown_without_reference_has_no_paper_column():
    assert "paper errors" not in render_markdown(make_report(reference=False))


def test_markdown_accepts_int_latency_keys():
    report = make_report()
    report["models"]["teacher"]["latency_ms"] = {1: 0.5, 256: 7.25}
    assert "7.250" in render_markdown(report)


def test_write_report_round_trips_atomically(tmp_path):
    report = make_report()
    json_path, md_path = write_report(tmp_path / "run", report)
    assert load_report(tmp_path / "run") == report
    assert json.loads(json_path.read_text()) == report
    assert md_path.read_text() == render_markdown(report)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["report.json", "report.md"]  # no temp files left


def test_non_finite_values_are_written_as_null(tmp_path):
    report = make_report()
    report["models"]["teacher"]["nll"] = float("nan")
    write_report(tmp_path, report)
    assert load_report(tmp_path)["models"]["teacher"]["nll"] is None


def test_load_report_missing_is_actionable(tmp_path):
    with pytest.raises(KdistillError, match="no report.json"):
        load_report(tmp_path)


def test_terminal_table_is_fixed_width():
    text = render_terminal_table(make_report())
    lines = text.splitlines()
    assert "teacher" in text and "student|kd" in text and "98.71" in text
    assert len({len(line) for line in lines}) == 1
