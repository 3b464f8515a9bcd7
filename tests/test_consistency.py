"""One computation: every number shown agrees across the digest, the community reports,
metrics.csv and metrics.xlsx (本周 and 历周), with non-default overdue_days and targets.

Numbers are parsed back from the HTML and the workbook and cross-checked between outputs;
statuses are re-derived here from the rates and the targets this test passes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook

from .conftest import ROOT, SAMPLE, SAMPLE_WEEK

# One worker runs the module: its batch (the ``run`` fixture) is made once, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("consistency")]

OVERDUE_DAYS = 1
TARGETS = {"coverage": 0.9, "awareness": 0.96, "support": 0.95, "participation": 0.8,
           "satisfaction": 0.85, "garbage_sorting": 0.9}
PARAMS = ["-p", "overdue_days", str(OVERDUE_DAYS), "-p", "target_coverage", "0.9",
          "-p", "target_awareness", "0.96", "-p", "target_satisfaction", "0.85"]
LABELS = {"coverage": "覆盖率", "awareness": "知晓率", "support": "支持率", "participation": "参与率",
          "satisfaction": "满意率", "garbage_sorting": "垃圾分类知晓率"}
KEYS = list(LABELS)  # the order reports show the rates in
PREVIOUS_WEEK = "2023-W36"


def pct(v, digits=1) -> str:
    return "—" if pd.isna(v) else f"{float(v) * 100:.{digits}f}%"


def expected_status(rate, target) -> str:
    if pd.isna(rate):
        return "none"
    gap = float(rate) - target
    return "green" if gap >= -1e-9 else ("amber" if gap >= -0.05 - 1e-9 else "red")


def ints(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def rate_col(key: str) -> str:
    return "coverage_cum" if key == "coverage" else f"{key}_rate_cum"


def rows_of(table) -> list[list[str]]:
    return [[c.get_text() for c in tr.find_all(["th", "td"])] for tr in table.select("tbody tr")]


def section(soup, title: str):
    """Return the elements after the <h2> titled ``title`` up to the next <h2>."""
    h = soup.find("h2", string=title)
    assert h is not None, title
    out = []
    for el in h.find_next_siblings():
        if el.name == "h2":
            break
        out.append(el)
    return out


@pytest.fixture(scope="session")
def run(tmp_path_factory, _inline_kernel):
    """Return the --out folder of a batch with -p overdue_days 1 and non-default targets.

    In-process (``cli.main`` with ``InlineExecutor``): the numbers, not the processes, are
    under test. Session scope: a module fixture is made again each time a worker comes
    back to this module after other tests."""
    from canvass import cli
    from canvass.run import executors

    from .conftest import InlineExecutor

    out = tmp_path_factory.mktemp("consistency") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(executors.EXECUTORS, "local", InlineExecutor)
        code = cli.main(["--data", str(SAMPLE), "--out", str(out), "--week", SAMPLE_WEEK, "--jobs", "1", *PARAMS])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def csv(run) -> pd.DataFrame:
    return pd.read_csv(run / SAMPLE_WEEK / "metrics.csv", encoding="utf-8-sig").set_index("community")


@pytest.fixture(scope="module")
def sheets(run) -> dict:
    wb = load_workbook(run / SAMPLE_WEEK / "metrics.xlsx")
    out = {}
    for name in ("本周", "历周"):
        values = list(wb[name].iter_rows(values_only=True))
        out[name] = pd.DataFrame(values[1:], columns=values[0])
    return out


@pytest.fixture(scope="module")
def digest(run):
    return BeautifulSoup((run / SAMPLE_WEEK / "digest.html").read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def reports(run) -> dict:
    slugs = json.loads((run / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))["slugs"]
    return {c: BeautifulSoup((run / SAMPLE_WEEK / "communities" / f"{s}.html").read_text(encoding="utf-8"),
                             "html.parser") for c, s in slugs.items()}


# --- metrics.csv and metrics.xlsx -----------------------------------------------------------------

XLSX_COLUMNS = {"常住户数": "households", "已覆盖户数": "reached_cum", "覆盖率": "coverage_cum",
                "本周走访次数": "visits_week", "本周入户次数": "entered_week", "本周问卷数": "returns_week",
                "累计问卷数": "returns_cum", "本周登记诉求": "issues_raised_week",
                "本周办结诉求": "issues_resolved_week", "未办结诉求": "issues_open", "超期诉求": "issues_overdue",
                "累计办结率": "resolution_rate_cum", "本周发放材料": "materials_week", "剔除行数": "rejected_rows",
                "知晓率（累计）": "awareness_rate_cum", "满意率（累计）": "satisfaction_rate_cum",
                "满意率样本数（本周）": "satisfaction_n_week"}


def test_this_week_and_every_week_sheets_agree_with_metrics_csv(csv, sheets):
    this = sheets["本周"].set_index("社区")
    history = sheets["历周"]
    w37 = history[history["周"] == SAMPLE_WEEK].set_index("社区")
    assert list(this.index) == list(csv.index) == list(w37.index)
    for zh, col in XLSX_COLUMNS.items():
        for community in csv.index:
            expected = csv.loc[community, col]
            for frame in (this, w37):
                got = frame.loc[community, zh]
                if pd.isna(expected):
                    assert got is None, (zh, community)
                else:
                    assert got == pytest.approx(float(expected), abs=1e-12), (zh, community)


def test_overdue_days_reaches_the_every_week_sheet(csv, sheets):
    # The 历周 sheet used the default 7 days whatever -p said (77 overdue instead of 108 in W37).
    history = sheets["历周"]
    w37 = history[history["周"] == SAMPLE_WEEK].set_index("社区")["超期诉求"]
    assert w37.tolist() == sheets["本周"]["超期诉求"].tolist() == csv["issues_overdue"].tolist()
    pooled = csv.iloc[-1]
    assert pooled["issues_overdue"] == csv.iloc[:-1]["issues_overdue"].sum()
    assert 0 < pooled["issues_overdue"] <= pooled["issues_open"]


def test_statuses_follow_the_targets_passed_with_p(csv):
    for key, target in TARGETS.items():
        for community, r in csv.iterrows():
            st = r[f"{key}_status"]
            assert (st if isinstance(st, str) else "none") == expected_status(r[rate_col(key)], target), (key, community)


# --- the digest ---------------------------------------------------------------------------------

def check_cards(cards, r, where):
    assert len(cards) == len(KEYS)
    for card, key in zip(cards, KEYS):
        assert card.select_one(".card-label").get_text() == LABELS[key]
        rate = r[rate_col(key)]
        assert card.select_one(".card-value").get_text() == pct(rate), (where, key)
        assert f"st-{expected_status(rate, TARGETS[key])}" in card["class"], (where, key)
        subs = [s.get_text() for s in card.select(".card-sub")]
        assert subs[0].startswith(f"目标 {TARGETS[key] * 100:.0f}% "), (where, key)
        if key == "coverage":
            assert f"{int(r['households'])} 户" in subs[1]
            assert f"95%区间 {pct(r['coverage_cum_low'])}–{pct(r['coverage_cum_high'])}" in subs[1]
        else:
            assert f"样本 {int(r[f'{key}_n_cum'])} 份" in subs[1], (where, key)
            assert ("样本不足" in subs[1]) == (r[f"{key}_n_cum"] < 30)
            if not pd.isna(rate):
                assert f"95%区间 {pct(r[f'{key}_rate_cum_low'])}–{pct(r[f'{key}_rate_cum_high'])}" in subs[1]


def test_digest_headline_matches_the_pooled_row(digest, csv):
    pooled = csv.iloc[-1]
    els = section(digest, "街道总体（累计）")
    check_cards([c for el in els for c in el.select("div.card")], pooled, "digest")
    facts = next(el for el in els if el.name == "p" and "facts" in el.get("class", [])).get_text()
    households, reached, remaining, visits, returns = ints(facts.replace(pct(pooled["coverage_cum"]), ""))
    assert (households, reached, remaining, visits, returns) == (
        pooled["households"], pooled["reached_cum"], pooled["households"] - pooled["reached_cum"],
        pooled["visits_week"], pooled["returns_week"])
    assert pct(pooled["coverage_cum"]) in facts


def test_digest_matrix_matches_metrics_csv_and_last_week(digest, csv, sheets):
    history = sheets["历周"]
    prev = history[history["周"] == PREVIOUS_WEEK].set_index("社区")
    table = digest.select_one("table.matrix")
    rows = table.select("tbody tr")
    assert [tr.th.get_text().replace(" 报告失败", "") for tr in rows] == list(csv.index)
    for tr, (community, r) in zip(rows, csv.iterrows()):
        for td, key in zip(tr.find_all("td"), KEYS):
            rate = r[rate_col(key)]
            assert td.select_one(".rate").get_text() == pct(rate), (community, key)
            assert td["class"] == [f"st-{expected_status(rate, TARGETS[key])}"], (community, key)
            before = prev.loc[community, f"{LABELS[key]}（累计）" if key != "coverage" else "覆盖率"]
            if pd.isna(rate) or before is None:
                assert td.select_one(".delta") is None
            else:
                d = (float(rate) - float(before)) * 100
                arrow = "↑" if d > 0.05 else ("↓" if d < -0.05 else "→")
                assert td.select_one(".delta").get_text() == f"{arrow}{abs(d):.1f}", (community, key)
            if key != "coverage":
                assert (td.select_one(".low") is not None) == (r[f"{key}_n_cum"] < 30)


def test_digest_issues_match_metrics_csv(digest, csv):
    pooled = csv.iloc[-1]
    els = section(digest, "居民诉求")
    facts = els[0].get_text()
    assert f"超过 {OVERDUE_DAYS} 天未办结" in facts
    numbers = ints(facts.replace(f"超过 {OVERDUE_DAYS} 天", "").replace(pct(pooled["resolution_rate_cum"]), ""))
    assert numbers == [pooled["issues_raised_week"], pooled["issues_resolved_week"], pooled["issues_open"],
                       pooled["issues_overdue"]]
    by_category, by_community = [rows_of(el.find("table")) for el in els if el.find("table") is not None]
    cat = pd.DataFrame([[int(x) for x in r[1:]] for r in by_category],
                       columns=["raised", "resolved", "open", "overdue", "escalated"])
    assert cat["raised"].sum() == pooled["issues_raised_cum"]
    assert cat["resolved"].sum() == pooled["issues_resolved_cum"]
    assert cat["open"].sum() == pooled["issues_open"]
    assert cat["overdue"].sum() == pooled["issues_overdue"]
    assert [r[0] for r in by_community] == list(csv.index)
    for r in by_community:
        m = csv.loc[r[0]]
        assert [int(x) for x in r[1:5]] == [m["issues_raised_week"], m["issues_resolved_week"], m["issues_open"],
                                           m["issues_overdue"]]
        assert r[5] == pct(m["resolution_rate_cum"])


def test_digest_quality_matches_rejected_rows(digest, csv):
    els = section(digest, "数据质量")
    tables = [el.find("table") for el in els if el.find("table") is not None]
    per_community = {r[0]: int(r[1]) for r in rows_of(tables[0])}
    status = {r[0]: int(r[2]) for r in rows_of(tables[1])}
    communities = csv[csv["scope"] == "community"]
    for community, m in communities.iterrows():
        assert per_community.get(community, 0) == m["rejected_rows"] == status[community]
    # The pooled count also holds rejects of no known community.
    assert sum(per_community.values()) == csv.iloc[-1]["rejected_rows"]
    # Those are one row: the cell of a row whose community is unknown is never shown (春光社区 in the sample).
    assert set(per_community) - set(communities.index) == {"（社区名称无法识别）"}
    assert all("春光社区" not in e.get_text() for e in els)


def method_note_checks(soup):
    note = " ".join(el.get_text() for el in section(soup, "口径说明"))
    assert f"超过 {OVERDUE_DAYS} 天仍未办结" in note and "7 天" not in note
    assert "少于 30" in note and "不超过 5 个百分点" in note
    for key, target in TARGETS.items():
        assert f"{LABELS[key]} {target * 100:.0f}%" in note


def test_digest_method_note_states_this_runs_settings(digest):
    method_note_checks(digest)


# --- the community reports ----------------------------------------------------------------------

def test_community_headlines_match_metrics_csv(reports, csv):
    for community, soup in reports.items():
        r = csv.loc[community]
        els = section(soup, "核心指标（累计）")
        check_cards([c for el in els for c in el.select("div.card")], r, community)
        facts = next(el for el in els if el.name == "p").get_text()
        assert ints(facts) == [r["visits_week"], r["entered_week"], r["returns_week"], r["returns_cum"],
                               r["materials_week"], r["reached_cum"], r["households"],
                               r["households"] - r["reached_cum"]], community


def test_community_grids_and_buildings_add_up(reports, csv):
    for community, soup in reports.items():
        r = csv.loc[community]
        grids = pd.DataFrame([[int(x) for x in row[1:4]] for row in rows_of(soup.select_one("table.grids"))],
                             columns=["households", "reached", "visits"])
        assert (grids["households"].sum(), grids["reached"].sum(), grids["visits"].sum()) == (
            r["households"], r["reached_cum"], r["visits_week"]), community
        heat = [tuple(map(int, s.get_text().split("/"))) for s in soup.select("div.heat small")]
        assert sum(h[0] for h in heat) == r["reached_cum"] and sum(h[1] for h in heat) == r["households"]


def test_community_trend_tables_match_every_week_sheet(reports, sheets):
    history = sheets["历周"]
    for community, soup in reports.items():
        weeks = history[history["社区"] == community]
        table = next(el.find("table") for el in section(soup, "周趋势") if el.find("table") is not None)
        rows = rows_of(table)
        assert len(rows) == len(weeks)
        for row, (_, w) in zip(rows, weeks.iterrows()):
            assert row[0].startswith(f"第{int(w['周'].split('-W')[1])}周")
            assert [int(x) for x in row[1:5]] == [w["本周走访次数"], w["本周入户次数"], w["本周问卷数"],
                                                  w["本周发放材料"]], (community, w["周"])
            assert row[5] == pct(w["覆盖率"])


def test_community_issues_and_quality_match_metrics_csv(reports, csv):
    for community, soup in reports.items():
        r = csv.loc[community]
        els = section(soup, "居民诉求")
        facts = els[0].get_text()
        numbers = ints(facts.replace(f"超过 {OVERDUE_DAYS} 天", "").replace(pct(r["resolution_rate_cum"]), ""))
        assert numbers == [r["issues_raised_week"], r["issues_resolved_week"], r["issues_open"],
                           r["issues_overdue"]], community
        cat = [[int(x) for x in row[1:]] for row in rows_of(els[1].find("table"))]
        assert sum(c[2] for c in cat) == r["issues_open"] and sum(c[3] for c in cat) == r["issues_overdue"]
        quality = rows_of(next(el.find("table") for el in section(soup, "数据质量") if el.find("table") is not None))
        assert sum(int(q[1]) for q in quality) == r["rejected_rows"], community
        method_note_checks(soup)


def test_a_notebook_run_on_its_own_shows_what_the_batch_shows(run, tmp_path):
    """Without the batch's metrics file the notebook computes the same numbers itself."""
    out = tmp_path / "fushou.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "community_report.ipynb"),
                           str(out), "-p", "community", "福寿社区", "-p", "data_dir", "data/sample",
                           "-p", "week", SAMPLE_WEEK, *PARAMS], cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    def html(nb):
        return [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
                for o in c.get("outputs", []) if "text/html" in o.get("data", {})]

    batch = nbformat.read(run / "internal" / SAMPLE_WEEK / "notebooks" / "fushou-shequ.ipynb", as_version=4)
    assert batch.metadata["papermill"]["parameters"]["metrics_file"]
    assert nbformat.read(out, as_version=4).metadata["papermill"]["parameters"].get("metrics_file") is None
    assert html(nbformat.read(out, as_version=4)) == html(batch)
