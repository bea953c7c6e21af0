"""report.html and compare.html: self-contained, every figure embedded, re-rendered from report.json alone."""

import json
import re

from kdistill.cli import main
from kdistill.evaluation.compare import compare_runs, differing_settings, load_runs
from kdistill.evaluation.html import render_html

FIGURES = ["fig-curves", "fig-confusion", "fig-reliability", "fig-per-class", "fig-similarity"]


def image_ids(page):
    return re.findall(r'<img id="([^"]+)" alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)


def test_the_run_page_embeds_every_figure_and_loads_nothing(report_run):
    run_dir, _ = report_run
    page = (run_dir / "report.html").read_text()
    assert image_ids(page) == FIGURES
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page  # the browser refuses any fetch the page might try
    for section in ("comparison-table", "teacher-cost-table"):
        assert f'id="{section}"' in page
    assert 'class="missing"' not in page


def test_report_json_holds_the_figure_data(report_run):
    run_dir, _ = report_run
    saved = json.loads((run_dir / "report.json").read_text())
    figures = saved["figures"]
    assert figures["reference"] == "teacher" and figures["student"] == "distilled"
    assert len(figures["confusion"]["teacher"]) == 10
    assert sum(map(sum, figures["confusion"]["distilled"])) == saved["models"]["distilled"]["count"]
    similarity = figures["similarity"]
    assert similarity["temperature"] == 20.0
    assert all(abs(sum(row) - 1) < 1e-6 for row in similarity["matrix"])  # each row: a mean distribution
    assert set(saved["histories"]) == {"teacher", "baseline", "distilled"}


def test_kdistill_report_re_renders_the_page_from_report_json(report_run, capsys):
    run_dir, _ = report_run
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert image_ids((run_dir / "report.html").read_text()) == FIGURES
    assert "report.html" in capsys.readouterr().out


def test_an_older_report_without_figure_data_still_renders(report_run):
    run_dir, report = report_run
    older = {key: value for key, value in report.items() if key not in ("figures", "histories")}
    page = render_html(older, run_dir)
    assert image_ids(page) == ["fig-curves"]  # curves come from the stages' metrics.jsonl
    assert page.count('class="missing"') == 4


def test_compare_lists_the_settings_that_differ_and_overlays_the_curves(report_run, tmp_path):
    run_dir, _ = report_run
    other = tmp_path / "other"
    other.mkdir()
    changed = json.loads((run_dir / "report.json").read_text())
    changed["config"]["distill"]["method_args"]["temperature"] = 4.0
    (other / "report.json").write_text(json.dumps(changed))
    runs = load_runs([run_dir, other])
    assert list(differing_settings(runs)) == ["distill.method_args.temperature"]
    page = compare_runs([run_dir, other], tmp_path / "compare.html").read_text()
    assert image_ids(page) == ["fig-compare-accuracy", "fig-compare-loss"]
    assert page.count("<tr><td>run</td>") == 3 and page.count("<tr><td>other</td>") == 3  # a row per model per run
