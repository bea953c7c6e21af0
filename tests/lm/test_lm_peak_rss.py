"""Peak RSS as the LM report and benchmark record it: the process's own peak, not its parent's."""

import subprocess
import sys

import pytest

from kdistill.lm.evaluate import peak_rss_bytes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork/exec inheritance of ru_maxrss is Linux's")
def test_a_fresh_child_process_does_not_report_its_parents_peak():
    held = bytearray(300 << 20)  # 300 MB resident in this (parent) process
    held[:: 4096] = b"\x01" * len(held[:: 4096])
    assert peak_rss_bytes() > 300 << 20
    code = "from kdistill.lm.evaluate import peak_rss_bytes; print(peak_rss_bytes())"
    child = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 0 < child < 250 << 20  # the child imports torch (~100-200 MB), never the parent's 300 MB
    del held
