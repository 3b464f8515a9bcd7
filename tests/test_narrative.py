"""The digest's new sections on a small folder with every optional table: the week in three parts,
pace, 问卷可信度, 志愿服务, 门前三包, rate gaps and the partial-week banner.

Numbers are parsed back from the rendered HTML and checked against metrics.csv as the batch
writes it (``tables.write_metrics_csv``), and against the bundled sample's batch.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from canvass.config import parse_config
from canvass.ingest.clean import clean_folder
from canvass.metrics import metrics_over_weeks, week_rows
from canvass.report import narrative, pages, sections
from canvass.report.tables import write_metrics_csv
from canvass.report.views import community_view, digest_view, grid_pace

from .conftest import SAMPLE_WEEK
from .test_campaign import A_HEAD
from .test_clean import make_data, visit, write

W = "2023-W36"
ASSESSMENT = "2023-09-20"
TARGETS = {"coverage": 1.0, "awareness": 0.6, "support": 0.95, "participation": 0.8, "satisfaction": 0.9,
           "garbage_sorting": 0.9}
SURVEY_HEAD = ["提交时间", "社区", "住址", "所用时间", "IP", "您知道我市正在创建全国文明城市吗", "意见建议"]
SHOP_HEAD = ["巡查日期", "社区", "商铺名称", "巡查结果", "存在问题", "处理措施", "整改期限", "责任书", "所在街路"]
DIGEST_SECTIONS = ("digest_title", "digest_summary", "digest_headline", "digest_table", "digest_pace",
                   "digest_credibility", "digest_activities", "digest_shops", "digest_roles", "digest_quality",
                   "method_note")
COMMUNITY_SECTIONS = ("community_title", "community_headline", "community_grids", "community_pace",
                      "community_credibility", "community_activities", "community_shops", "community_roles",
                      "community_trends", "community_quality", "method_note")


def build(root: Path, activities: bool = True, shops: bool = True) -> Path:
    """Write the folder: 甲 reached 1 of 3 in W35 and 2 in W36; 乙 never visited."""
    data = make_data(root, visits=[visit(date="2023-08-29"), visit(visitor="楼长王", date="2023-09-05"),
                                   visit(visitor="志愿者", address="3-2-502", materials="3", date="2023-09-06")])
    write(data, "surveys", "甲社区_问卷.csv", [SURVEY_HEAD,
        ["2023-09-05 10:00", "甲社区", "3-2-501", "8秒", "1.1.1.1", "知道", ""],   # too fast; 楼长 visited that day
        ["2023-09-06 10:00", "甲社区", "3-2-502", "60秒", "1.1.1.2", "知道", ""],
        ["2023-09-06 11:00", "甲社区", "5-302", "70秒", "1.1.1.3", "不知道", ""]])
    # 乙's download has no duration, IP or comment column, and a coded support question.
    write(data, "surveys", "乙社区_问卷.csv", [["提交时间", "社区", "住址", "您知道我市正在创建全国文明城市吗", "您支持创城吗"],
        ["2023-09-05 10:00", "乙社区", "1-1-101", "知道", "1"], ["2023-09-06 10:00", "乙社区", "1-1-102", "知道", "2"]])
    if activities:
        write(data, "activities", "a.csv", [A_HEAD,
            ["2023-09-02", "甲社区", "星期六大扫除", "10人", "2", "20", "5处"],
            ["2023-09-02", "乙社区", "卫生清理", "8", "", "16小时", "3"],
            ["2023-09-09", "甲社区", "爱国卫生大清理", "12人", "3", "2.5小时", "8处"],
            ["2023-09-06", "甲社区", "创城宣传", "5人次", "", "", ""]])
    if shops:
        write(data, "shops", "s.csv", [SHOP_HEAD,
            ["2023-09-05", "甲社区", "老王面馆", "不合格", "占道经营、乱停车", "联合执法", "2023-09-10", "", "人民路"],
            ["2023-09-05", "甲社区", "王小明便利店", "不合格", "门前堆放杂物", "限期整改", "2023-09-08", "是",
             "店主电话13812345678"],
            ["2023-09-06", "甲社区", "小李超市", "合格", "", "", "", "否", "人民路"]])
    return data


def load(root: Path, **kw):
    return clean_folder(build(root, **kw), parse_config({"campaign_start": "2023-08-28", "assessment_date": ASSESSMENT},
                                                        "s.yml"))


def render_digest(cleaned, history, today=dt.date(2023, 9, 11)) -> str:
    view = digest_view(cleaned, W, TARGETS, history, today=today)
    return pages.page("digest", [getattr(sections, s)(view) for s in DIGEST_SECTIONS], W)


def render_community(cleaned, history, community="甲社区", today=dt.date(2023, 9, 11)) -> str:
    view = community_view(cleaned, community, W, TARGETS, history, today=today)
    return pages.page(community, [getattr(sections, s)(view) for s in COMMUNITY_SECTIONS], W)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Return (cleaned, metrics.csv as written and read back, history, digest HTML, 甲's report HTML)."""
    root = tmp_path_factory.mktemp("narrative")
    cleaned = load(root / "data")
    history = metrics_over_weeks(cleaned, W, TARGETS)
    write_metrics_csv(week_rows(history, W), root / "metrics.csv")
    csv = pd.read_csv(root / "metrics.csv", encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    return cleaned, csv.set_index("community"), history, render_digest(cleaned, history), render_community(cleaned, history)


def text_of(html: str, title: str) -> str:
    """Return the text of the section under the <h2> ``title`` (up to the next <h2>)."""
    soup = BeautifulSoup(html, "html.parser")
    h = soup.find("h2", string=title)
    assert h is not None, title
    out = []
    for el in h.find_next_siblings():
        if el.name == "h2":
            break
        out.append(el.get_text(" "))
    return " ".join(out)


def parts(html: str) -> dict:
    """Return 本周工作 / 存在问题 / 下步打算 → their sentences, as the digest shows them."""
    soup = BeautifulSoup(html, "html.parser")
    return {s.h3.get_text(): [li.get_text() for li in s.select("li")] for s in soup.select("div.summary section")}


def find(pattern: str, sentences: list[str]) -> tuple[int, ...]:
    hits = [m for s in sentences for m in [re.search(pattern, s)] if m]
    assert hits, (pattern, sentences)
    return tuple(int(g) for g in hits[0].groups())


def check_work(work: list[str], p: pd.Series) -> None:
    """Every number of 本周工作 against the pooled row of metrics.csv."""
    assert find(r"走访 (\d+) 次，新覆盖 (\d+) 户，累计覆盖 (\d+)/(\d+) 户", work) == (
        p["visits_week"], p["new_reached_week"], p["reached_cum"], p["households"])
    assert find(r"回收问卷 (\d+) 份，发放宣传材料 (\d+) 份", work) == (p["returns_week"], p["materials_week"])
    if "activities_week" in p.index:
        assert find(r"活动 (\d+) 次，其中清理 (\d+) 次，参与 (\d+) 人次（党员 (\d+) 人次）", work) == (
            p["activities_week"], p["cleanups_week"], p["turnout_week"], p["party_turnout_week"])
    else:
        assert not any("志愿服务" in s for s in work)
    if "shops_known" in p.index:
        assert find(r"巡查商铺 (\d+) 家 (\d+) 次，联合执法 (\d+) 次", work) == (
            p["shops_inspected_week"], p["inspections_week"], p["enforcement_week"])
    else:
        assert not any("商铺" in s for s in work)


def test_week_summary_numbers_are_metrics_csv(folder):
    cleaned, csv, _, digest, _ = folder
    got = parts(digest)
    assert list(got) == ["本周工作", "存在问题", "下步打算"]
    pooled = csv.iloc[-1]
    check_work(got["本周工作"], pooled)
    assert find(r"走访 (\d+) 次", got["本周工作"]) == (2,) and find(r"新覆盖 (\d+) 户", got["本周工作"]) == (1,)
    problems = " ".join(got["存在问题"])
    assert "按当前进度测评前不能全覆盖：甲社区、乙社区" in problems
    assert "本周未开展清理：乙社区" in problems
    # 甲's awareness 2/3 = 66.7% against 1/2 = 50.0% without the too-fast return
    assert "甲社区知晓率 66.7%，剔除可疑问卷后 50.0%" in problems
    for community in ("甲社区", "乙社区"):
        r = csv.loc[community]
        left, days, per_day = find(rf"{community}：还有 (\d+) 户未覆盖，距测评 (\d+) 天，每天需覆盖 (\d+) 户",
                                   got["下步打算"])
        assert (left, days, per_day) == (r["remaining"], r["days_left"], r["needed_per_day"])
    assert (csv.loc["甲社区", "remaining"], csv.loc["乙社区", "remaining"]) == (1, 2)
    assert any("甲社区" in s and "重点：第2网格 1 户" in s for s in got["下步打算"])


def test_week_summary_without_assessment_date_or_optional_tables(tmp_path):
    cleaned = clean_folder(build(tmp_path / "d", activities=False, shops=False),
                           parse_config({"campaign_start": "2023-08-28"}, "s.yml"))
    history = metrics_over_weeks(cleaned, W, TARGETS)
    m = week_rows(history, W)
    s = narrative.week_summary(m, grid_pace(cleaned, W, "2023-W35"))
    assert not any("志愿服务" in x or "商铺" in x for x in s.work)
    assert not any("清理" in x for x in s.problems + s.next)
    # no assessment date: the communities not yet full, most left first, with their projection
    assert s.next[0].startswith("乙社区：还有 2 户未覆盖，按近两周进度无法完成")
    assert s.next[1].startswith("甲社区：还有 1 户未覆盖，按近两周进度预计 2023-09-24 全覆盖")
    html = render_digest(cleaned, history)
    assert "志愿服务" not in text_of(html, "本周概要") and BeautifulSoup(html, "html.parser").find(
        "h2", string="门前三包") is None
    assert BeautifulSoup(html, "html.parser").find("h2", string="志愿服务") is None


def test_sample_digest_summary_matches_metrics_csv(sample_reports):
    """The bundled sample's batch, with or without activities/ and shops/."""
    html = (sample_reports / SAMPLE_WEEK / "digest.html").read_text(encoding="utf-8")
    csv = pd.read_csv(sample_reports / SAMPLE_WEEK / "metrics.csv", encoding="utf-8-sig")
    got = parts(html)
    check_work(got["本周工作"], csv.iloc[-1])
    for _, r in csv.iloc[:-1].iterrows():
        if r["issues_overdue"] > 0:
            assert f"{r['community']} {r['issues_overdue']} 件" in " ".join(got["存在问题"])
        if r["remaining"] > 0 and pd.isna(r["days_left"]):
            assert find(rf"{r['community']}：还有 (\d+) 户未覆盖", got["下步打算"]) == (r["remaining"],)


def test_pace_table_shows_metrics_csv(folder):
    _, csv, _, digest, community = folder
    soup = BeautifulSoup(digest, "html.parser")
    rows = {tr.th.get_text(): [td.get_text() for td in tr.find_all("td")] for tr in soup.select("table.pace tbody tr")}
    assert rows["甲社区"] == ["1", "2023-09-24", "10", "1", "×"]
    assert rows["乙社区"] == ["2", "按近两周进度无法完成", "10", "1", "×"]
    for name, cells in rows.items():
        r = csv.loc[name]
        assert [int(cells[0]), int(cells[2]), int(cells[3])] == [r["remaining"], r["days_left"], r["needed_per_day"]]
    grids = BeautifulSoup(community, "html.parser").select("table.grid-pace tbody tr")
    assert [(tr.th.get_text(), tr.td.get_text()) for tr in grids] == [("第2网格", "1")]  # grid 1 is full


def test_grid_pace_adds_up_to_the_community_rows(folder):
    cleaned, csv, _, _, _ = folder
    g = grid_pace(cleaned, W, "2023-W35")
    sums = g.groupby("community")[["households", "reached", "remaining", "new_reached_week"]].sum()
    for community, s in sums.iterrows():
        r = csv.loc[community]
        assert s.tolist() == [r["households"], r["reached_cum"], r["remaining"], r["new_reached_week"]]
    jia = g[g["community"] == "甲社区"].set_index("grid_label")
    assert jia.loc["第1网格", "pace_text"] == "已全覆盖" and jia.loc["第2网格", "remaining"] == 1


def test_credibility_section(folder):
    _, csv, _, digest, community = folder
    soup = BeautifulSoup(digest, "html.parser")
    table = soup.select_one("table.credible")
    rows = {tr.th.get_text(): tr for tr in table.select("tbody tr")}
    jia = rows["甲社区"]
    assert "累计 1/3" in jia.select_one("td.flagged").get_text() and "本周 1/3" in jia.select_one("td.flagged").get_text()
    awareness = jia.find_all("td")[1]
    assert awareness.select_one(".rate").get_text() == "66.7%" and "可信 50.0%" in awareness.get_text()
    assert "达标→落后" in awareness.get_text()  # green with the flagged return, red without it
    assert "→" not in rows["乙社区"].find_all("td")[1].get_text()
    check = {tr.th.get_text(): [td.get_text() for td in tr.find_all("td")] for tr in soup.select("table.checkable tbody tr")}
    assert check == {"甲社区": ["可检查", "可检查", "可检查"], "乙社区": ["无法检查", "无法检查", "无法检查"]}
    # pooled awareness 4/5 = 80.0%, credible 3/4 = 75.0%: the headline card says so
    card = next(c for c in soup.select("div.card") if c.select_one(".card-label").get_text() == "知晓率")
    assert card.select_one(".card-warn").get_text() == "剔除可疑问卷后仅 75.0%"
    assert csv.iloc[-1]["awareness_rate_credible_cum"] == pytest.approx(0.75)
    text = text_of(community, "问卷可信度")
    assert re.search(r"楼长 1 1 0 0", text), text  # by role only: one flagged return, too fast
    assert "1.1.1.1" not in community and "1.1.1.1" not in digest and "楼长王" not in community


def test_activities_and_shops_sections(folder):
    _, csv, _, digest, community = folder
    soup = BeautifulSoup(digest, "html.parser")
    strips = {s.select_one(".strip-name").get_text(): [w.get_text() for w in s.select(".wk")]
              for s in soup.select(".strip")}
    assert strips == {"甲社区": ["35✓", "36✓"], "乙社区": ["35✓", "36✕"]}
    act = {tr.th.get_text(): [td.get_text().strip() for td in tr.find_all("td")]
           for tr in soup.find("h2", string="志愿服务").find_next("table").select("tbody tr")}
    r = csv.loc["甲社区"]
    assert act["甲社区"] == [str(r["activities_week"]), str(r["cleanups_week"]), str(r["turnout_week"]),
                           str(r["party_turnout_week"]), "2.5", str(r["spots_cleaned_week"])]
    assert act["乙社区"][1] == "0 ✕"
    shops = text_of(digest, "门前三包")
    assert "占道/店外经营 1、乱停乱放 1、乱堆乱放 1" in shops
    listing = BeautifulSoup(community, "html.parser").find("h3", string=re.compile("未整改的商铺")).find_next("table")
    names = [tr.th.get_text() for tr in listing.select("tbody tr")]
    assert names == ["某某便利店", "老王面馆"]  # overdue first; a registry name is masked
    assert "13812345678" not in community and "138****5678" in community and "王小明" not in community


def test_sections_left_out_without_the_tables(tmp_path):
    cleaned = clean_folder(build(tmp_path / "d", activities=False, shops=False),
                           parse_config({"campaign_start": "2023-08-28"}, "s.yml"))
    history = metrics_over_weeks(cleaned, W, TARGETS)
    view = community_view(cleaned, "甲社区", W, TARGETS, history)
    assert sections.community_activities(view) == "" and sections.community_shops(view) == ""
    d = digest_view(cleaned, W, TARGETS, history)
    assert sections.digest_activities(d) == "" and sections.digest_shops(d) == ""


def test_rate_gaps_and_partial_week(folder):
    cleaned, _, history, digest, _ = folder
    quality = text_of(digest, "数据质量")
    assert re.search(r"乙社区\s*· surveys/乙社区_问卷.csv：支持率——回答是数字编号", quality), quality
    assert "本周数据不完整" not in digest
    partial = render_digest(cleaned, history, today=dt.date(2023, 9, 7))
    assert "本周数据不完整（截至 9月6日）" in partial
    assert "本周数据不完整（截至 9月6日）" in render_community(cleaned, history, today=dt.date(2023, 9, 7))


def test_method_note_explains_pace_and_flags_with_the_configured_thresholds(tmp_path):
    cleaned = clean_folder(build(tmp_path / "d"), parse_config(
        {"campaign_start": "2023-08-28", "credibility": {"min_seconds": 20, "burst_count": 6, "burst_minutes": 12}},
        "s.yml"))
    view = digest_view(cleaned, W, TARGETS, metrics_over_weeks(cleaned, W, TARGETS))
    note = text_of(pages.page("x", [sections.method_note(view)]), "口径说明")
    assert "少于 20 秒" in note and "12 分钟内提交 6 份" in note and "意见雷同" in note
    assert "不漏一户进度" in note and "52 周" in note and "可信比率" in note
