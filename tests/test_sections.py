"""Report sections and pages from Jinja2 templates: number filters, escaping, the 口径说明,
and one page shell for nbconvert's pages and the batch's own."""

from __future__ import annotations

import re
from types import SimpleNamespace

import nbformat
import pytest

from canvass.report import pages, sections, templating
from canvass.report.templating import delta, interval, pct, points, render, target

TARGETS = {"coverage": 0.9, "awareness": 0.925, "support": 0.95, "participation": 0.8,
           "satisfaction": 0.85, "garbage_sorting": 0.9}


@pytest.mark.parametrize("value,digits,text", [(0.9534, 1, "95.3%"), (1.0, 1, "100.0%"), (0.0, 0, "0%"),
                                               (float("nan"), 1, "—"), (None, 1, "—"), ("", 1, "—")])
def test_pct(value, digits, text):
    assert pct(value, digits) == text


@pytest.mark.parametrize("value,text", [(0.95, "95%"), (1.0, "100%"), (0.925, "92.5%"), (0.8, "80%")])
def test_target(value, text):
    assert target(value) == text


def test_points_interval_delta():
    assert points(0.05) == "5" and points(0.025) == "2.5"
    assert interval(0.9412, 0.9631) == "94.1%–96.3%"
    assert delta(0.50, 0.45) == "↑5.0"
    assert delta(0.45, 0.50) == "↓5.0"
    assert delta(0.5, 0.5004) == "→0.0"  # within 0.05 points: no change
    assert delta(float("nan"), 0.5) == "" and delta(0.5, None) == ""


def note_text(overdue_days=10, targets=TARGETS) -> str:
    html = sections.method_note(SimpleNamespace(targets=targets, overdue_days=overdue_days))
    return re.sub(r"<[^>]+>", "", html)


def test_method_note_states_the_runs_overdue_days_and_targets():
    text = note_text()
    assert "超过 10 天仍未办结" in text and "7 天" not in text
    assert "覆盖率 90%、知晓率 92.5%、支持率 95%、参与率 80%、满意率 85%、垃圾分类知晓率 90%" in text
    assert "少于 30" in text and "不超过 5 个百分点" in text


def test_method_note_takes_thresholds_from_the_vocabulary(monkeypatch):
    monkeypatch.setattr(templating, "LOW_SAMPLE", 50)
    monkeypatch.setattr(templating, "AMBER_BAND", 0.03)
    templating.environment.cache_clear()
    try:
        text = note_text()
    finally:
        templating.environment.cache_clear()
    assert "少于 50" in text and "不超过 3 个百分点" in text


def test_templates_escape_free_text():
    html = render("sections/quality.html.j2", rows=[{"说明": "<script>alert(1)</script>", "rows": 3}],
                  columns={"说明": "原因", "rows": "行数"}, status_rows=[], status_columns={})
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    links = sections.digest_links(SimpleNamespace(links={'"><img src=x>': 'a.html" onclick="x'}))
    assert "<img" not in links and 'onclick="' not in links


def test_undefined_names_are_errors_not_blanks():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render("sections/method_note.html.j2", targets=TARGETS)  # overdue_days missing


def _shell(html: str) -> str:
    """Return a page with its body (between <main> and <footer>) removed."""
    return re.sub(r'(<main class="report">).*(<footer)', r"\1\2", html, flags=re.S)


def test_nbconvert_pages_and_the_batchs_pages_share_one_shell():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<p>x</p>"})]
    nb.cells.append(cell)
    from_notebook = pages.notebook_html(nb, "七一社区 <周报>", "2023-W37")
    direct = pages.page("七一社区 <周报>", ["<p>x</p>"], "2023-W37")
    assert "<title>七一社区 &lt;周报&gt;</title>" in from_notebook
    assert "<p>x</p>" in from_notebook and "<p>x</p>" in direct
    assert "数据截至 2023年9月17日（周日）" in direct
    assert _shell(from_notebook).strip() == _shell(direct).strip()


def test_overdue_days_from_subdistrict_yml_reach_the_report_text(tmp_path):
    from canvass.config import parse_config
    from canvass.ingest.clean import clean_folder
    from canvass.metrics import metrics_over_weeks
    from canvass.report.views import community_view

    from .test_metrics import CONFIG, W, build

    build(tmp_path / "data")
    cleaned = clean_folder(tmp_path / "data", parse_config({**CONFIG, "overdue_days": 10}, "subdistrict.yml"))
    view = community_view(cleaned, "甲社区", W, cleaned.config.targets, metrics_over_weeks(cleaned, W))
    note = re.sub(r"<[^>]+>", "", sections.method_note(view))
    assert "超过 10 天仍未办结" in note and "7 天" not in note
    issues = re.sub(r"<[^>]+>", "", sections.community_issues(view))
    # 甲's open issues as of W36 are 8 (A), 7 (B) and 9 (C) days old: none is more than 10.
    assert "其中超过 10 天未办结 0 件" in issues


def test_furthest_from_target_names_no_community_when_all_meet_it():
    import pandas as pd

    from canvass.report.sections import furthest_from_target

    from canvass.vocab import RATE_KEYS

    m = pd.DataFrame({"scope": ["community", "community", "subdistrict"], "community": ["甲社区", "乙社区", "街道"],
                      "coverage_cum": [0.99, 0.80, 0.9], "awareness_rate_cum": [0.97, 0.96, 0.965]})
    for k in RATE_KEYS:
        if k not in ("coverage", "awareness"):
            m[f"{k}_rate_cum"] = None  # no answers: no row
    rows = {r["metric"]: r for r in furthest_from_target(m, {k: 0.95 for k in RATE_KEYS} | {"coverage": 1.0})}
    assert set(rows) == {"覆盖率", "知晓率"}
    assert (rows["覆盖率"]["community"], rows["覆盖率"]["gap"]) == ("乙社区", "20.0")
    assert (rows["知晓率"]["community"], rows["知晓率"]["gap"]) == ("各社区均已达标（最低 乙社区）", "—")
