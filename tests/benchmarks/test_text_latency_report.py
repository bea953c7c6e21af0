"""The text benchmark's latency columns come only from the cell that timed every architecture in turns."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("text_report")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_latency_is_median_iqr_and_ratio_from_the_interleaved_cell(report):
    row = {"median_ms": 11.5, "q1_ms": 11.0, "q3_ms": 12.0, "iqr_ms": 1.0}
    ratio = {"median": 0.35, "q1": 0.3, "q3": 0.4, "min": 0.3, "max": 0.4, "repeats": 10, "below_one": True}
    cells = {"latency/all": {"tokens": 27, "repeats": 10, "warmup": 3,
                             "ms_per_sentence": {"1": {"6L": row, "2L": row}, "32": {"6L": row, "2L": row}},
                             "vs_teacher": {"1": {"2L": ratio}, "32": {"2L": ratio}}}}
    assert report.latency_text(cells, "2L", "1") == "11.50 [11.00-12.00] (0.35× teacher)"
    assert report.latency_text(cells, "6L", "32") == "11.50 [11.00-12.00]"
    assert "timed in turns" in report.latency_note(cells)


def test_latency_timed_alone_is_not_shown(report):
    """Each profile cell timed its architecture alone, at another moment of the machine's load: not comparable."""
    cells = {"profile/2L": {"latency_ms_per_sentence": {"1": 29.8, "32": 11.7}}}
    assert report.latency_text(cells, "2L", "1") == "-"
    assert "dropped" in report.latency_note(cells)
