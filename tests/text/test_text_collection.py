"""tests/text collected beside tests/sources: its helpers must not come from a module named ``conftest`` (a bare
``from conftest import`` found tests/sources' conftest when both folders were given, and collection failed)."""

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("folders", [("text", "sources")])  # the order that failed
def test_text_and_sources_tests_collect_together(folders):
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               *(str(TESTS / folder) for folder in folders)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=TESTS.parent, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
