"""report.html and compare.html in a real browser (headless Chromium): every figure decodes, the page raises no error
and requests nothing. A probe script, inserted by the test, records window errors, failed image loads and
Content-Security-Policy violations into the DOM, which Chromium dumps after the page has loaded."""

import html
import json
import re
import shutil
import subprocess

import pytest

from kdistill.evaluation.compare import compare_runs

pytestmark = pytest.mark.slow

CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path),
                None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=10000"]
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(
  String(e.message || (e.target && e.target.id ? "failed to load " + e.target.id : "error"))), true);
document.addEventListener("securitypolicyviolation", e => window.__errors.push("blocked " + e.blockedURI));
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(i => ({id: i.id, ok: i.complete && i.naturalWidth > 0}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({errors: window.__errors, images: images});
  document.body.appendChild(out);
});
</script>"""


def load_in_chromium(page_path, tmp_path):
    """(errors, {image id: decoded?}) of the page as Chromium loaded it."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it "
                    "when apt is available)")
    page = page_path.read_text()
    # the page forbids scripts; let the probe (and only inline scripts) run, keep every other rule
    probed = page.replace("script-src 'none'", "script-src 'unsafe-inline'").replace("<head>", "<head>" + PROBE, 1)
    probe_path = tmp_path / f"probed-{page_path.name}"
    probe_path.write_text(probed)
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom",
                           probe_path.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, f"no probe output (exit {done.returncode}): {done.stderr[-1500:]}"
    result = json.loads(html.unescape(found.group(1)))
    return result["errors"], {image["id"]: image["ok"] for image in result["images"]}


def test_the_run_page_renders_every_figure_without_errors(report_run, tmp_path):
    run_dir, _ = report_run
    errors, images = load_in_chromium(run_dir / "report.html", tmp_path)
    assert errors == []
    assert images == {figure: True for figure in
                      ("fig-curves", "fig-confusion", "fig-reliability", "fig-per-class", "fig-similarity")}


def test_the_compare_page_renders_in_the_browser(report_run, tmp_path):
    run_dir, _ = report_run
    page = compare_runs([run_dir], tmp_path / "compare.html")
    errors, images = load_in_chromium(page, tmp_path)
    assert errors == [] and images == {"fig-compare-accuracy": True, "fig-compare-loss": True}


def test_the_probe_sees_a_broken_figure_and_a_network_request(report_run, tmp_path):
    # the check above can fail: a figure that does not decode and a fetch the page's policy blocks are both reported
    run_dir, _ = report_run
    page = (run_dir / "report.html").read_text()
    page = re.sub(r'(<img id="fig-curves" alt="[^"]*" src=")data:image/png;base64,[^"]+', r"\1data:image/png;base64,AAAA",
                  page)
    page = page.replace("</main>", '<img id="remote" src="https://example.invalid/x.png"></main>')
    broken = tmp_path / "broken.html"
    broken.write_text(page)
    errors, images = load_in_chromium(broken, tmp_path)
    assert images["fig-curves"] is False and images["remote"] is False
    assert any("failed to load fig-curves" in error for error in errors)
    assert any("blocked https://example.invalid" in error for error in errors)
