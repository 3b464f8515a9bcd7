"""Metrics of a report week: data contract section 5 (and section 8's metrics.csv columns).

The fixture below is small enough that every expected number is worked out by hand in
the comments. Report week W = 2023-W36: Monday 2023-09-04 … Sunday 2023-09-10.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvass.config import parse_config
from canvass.ingest.clean import clean_folder
from canvass.metrics import (
    compute_metrics,
    issue_state,
    latest_week,
    metrics_over_weeks,
    reached_households,
    rejects_as_of,
    status,
    week_rows,
    week_view,
    wilson,
)

W = "2023-W36"
CONFIG = {"name": "测试街道", "communities": ["甲社区", "乙社区"]}

HOUSEHOLDS = [
    ["社区", "网格", "地址", "居住状态"],
    ["甲社区", "1", "1-1-101", "常住"],  # r2
    ["甲社区", "1", "1-1-102", "常住"],  # r3
    ["甲社区", "1", "1-1-201", "常住"],  # r4
    ["甲社区", "1", "1-1-202", "空置"],  # r5  vacant: in no denominator
    ["甲社区", "2", "2-1-101", "出租"],  # r6
    ["甲社区", "2", "2-1-102", "自住"],  # r7
    ["乙社区", "1", "1-1-101", ""],  # r8
    ["乙社区", "1", "1-1-102", ""],  # r9
    ["乙社区", "1", "1-1-103", ""],  # r10
    ["乙社区", "1", "1-1-104", ""],  # r11
    ["乙社区", "1", "1-1-101", "常住"],  # r12 duplicate household (乙, registry: always in W's rejects)
]
# households: 甲 = 5 occupied (r2, r3, r4, r6, r7), 乙 = 4, pooled = 9

VISITS = [
    ["走访日期", "社区", "地址", "走访结果", "发放材料"],
    ["2023-08-30", "甲社区", "1-1-101", "已入户", "2"],  # r2  W35: reaches 甲 101
    ["2023-08-31", "甲社区", "1-1-102", "不在家", "1"],  # r3  W35: not reached
    ["2023-09-05", "甲社区", "1-1-102", "已入户", "3"],  # r4  W36: reaches 甲 102, entered
    ["2023-09-06", "甲社区", "1-1-201", "线上宣传", "0"],  # r5  W36: reaches 甲 201 (online), not entered
    ["2023-09-06", "甲社区", "1-1-202", "已入户", "1"],  # r6  W36: vacant: visit + entered + materials, not reached
    ["2023-09-07", "甲社区", "2-1-101", "拒访", ""],  # r7  W36: refused, materials blank = 0
    ["2023-09-12", "甲社区", "2-1-102", "已入户", "5"],  # r8  after W: invisible
    ["2023-09-04", "乙社区", "1-1-101", "入户成功", "2"],  # r9  W36 Monday: reaches 乙 101, entered
    ["2023-09-10 21:00", "乙社区", "1-1-102", "微信", "1"],  # r10 W36 Sunday evening: reaches 乙 102 (online)
    ["2023-09-08", "乙社区", "1-1-103", "无人在家", "0"],  # r11 W36: not reached
    ["2023-09-08", "乙社区", "1-1-103", "无人在家", "0"],  # r12 duplicate row (乙, dated W36)
    ["2023-09-05", "春光社区", "1-1-101", "已入户", "1"],  # r13 unknown community (pooled only)
    ["2023-09-13", "甲社区", "9-9-909", "已入户", "1"],  # r14 unknown household, dated after W: invisible
    ["2023-13-45", "甲社区", "1-1-101", "已入户", "1"],  # r15 bad date (甲): always in the rejects
]
# 甲 W36: visits_week = r4 r5 r6 r7 = 4; entered_week = r4 r6 = 2; materials_week = 3+0+1+0 = 4
#         reached_cum = {101 (r2), 102 (r4), 201 (r5)} = 3 → coverage 3/5 = 0.6
# 乙 W36: visits_week = r9 r10 r11 = 3; entered_week = r9 = 1; materials_week = 2+1+0 = 3
#         reached_cum = {101, 102} = 2 → coverage 2/4 = 0.5
# pooled: households 9, reached 5 → 5/9; visits 7; entered 3; materials 7

SURVEYS = [
    ["提交时间", "社区", "住址", "您知道我市正在创建全国文明城市吗", "您支持创城吗"],
    ["2023-09-01 10:00", "甲社区", "1-1-101", "不知道", "支持"],  # r2  W35: superseded by r3 as of W36
    ["2023-09-05 10:00", "甲社区", "1-1-101", "知道", "支持"],  # r3  W36 stands
    ["2023-09-06 09:00:00", "甲社区", "1-1-102", "知道", "不支持"],  # r4  exact tie with r5: superseded
    ["2023/9/6 9:00", "甲社区", "1-1-102", "不知道", "支持"],  # r5  stands (last in file order)
    ["2023-09-07 20:00", "甲社区", "", "是", "还行"],  # r6  anonymous; support 还行 is invalid
    ["2023-09-12 08:00", "甲社区", "1-1-201", "知道", "支持"],  # r7  after W: invisible
    ["2023-09-02 12:00", "乙社区", "1-1-101", "知道", "支持"],  # r8  W35 stands
    ["2023-09-09 12:00", "乙社区", "1-1-102", "(跳过)", "支持"],  # r9  W36 stands; awareness unanswered
    ["2023-09-08 12:00", "乙社区", "9-9-909", "知道", "支持"],  # r10 unknown household (乙, W36)
    ["2023-09-14 12:00", "甲社区", "1-1-101", "不知道", "不支持"],  # r11 after W: would supersede r3 in W37
]
# 甲 as of W36 stands: r3, r5, r6 → returns_cum = returns_week = 3
#   awareness: r3 知道 (+), r5 不知道 (−), r6 是 (+) → 2/3, n = 3 (week and cum)
#   support:   r3 (+), r5 (+), r6 invalid (left out) → 2/2 = 1.0, n = 2
# 乙 as of W36 stands: r8 (W35), r9 (W36) → returns_cum 2, returns_week 1
#   awareness cum: r8 (+), r9 unanswered → 1/1; week: r9 only → n = 0, rate empty
#   support cum 2/2, week 1/1
# pooled: returns_week 4, returns_cum 5; awareness cum (2+1)/(3+1) = 0.75 (not the mean of rates, 0.8333)
#   awareness week 2/(3+0); support cum 4/4, week 3/3
# the other three questions are not asked: n = 0, rates empty

ISSUES = [
    ["登记日期", "社区", "问题类别", "问题描述", "处理方式", "办理状态", "办结日期"],
    ["2023-09-02", "甲社区", "环境卫生", "A", "社区解决", "办理中", ""],  # r2  open, 8 days before Sunday: overdue
    ["2023-09-03", "甲社区", "环境卫生", "B", "社区解决", "待处理", ""],  # r3  open, exactly 7 days: not overdue
    ["2023-09-01", "甲社区", "占道经营", "C", "上报", "已办结", "2023-09-12"],  # r4 resolved after W: open as of W, 9 days: overdue
    ["2023-09-05", "甲社区", "设施维修", "D", "社区解决", "已解决", ""],  # r5  resolved on its raised date (W36)
    ["2023-08-29", "甲社区", "绿化", "E", "", "已办结", "2023-09-04"],  # r6  raised W35, resolved W36 Monday
    ["2023-08-28", "乙社区", "噪音扰民", "F", "社区解决", "已办结", "2023-08-30"],  # r7 raised and resolved in W35
    ["2023-09-06", "乙社区", "车辆乱停", "G", "上报", "办理中", ""],  # r8  open, 4 days
    ["2023-09-11", "乙社区", "车辆乱停", "H", "上报", "办理中", ""],  # r9  after W: invisible
    ["2023-09-07", "乙社区", "其他", "I", "", "暂缓", ""],  # r10 unknown status (乙, W36)
    ["2023-09-08", "", "其他", "J", "", "办理中", ""],  # r11 missing community (pooled only)
]
# Sunday of W36 is 09-10; overdue = open and raised more than 7 days before it (raised ≤ 09-02).
# 甲: raised as of W = r2 r3 r4 r5 r6 = 5; raised_week = r5 = 1; resolved as of W = r5 (09-05), r6 (09-04) = 2;
#     resolved_week = r5, r6 = 2; open = r2 r3 r4 = 3; overdue = r2 (8 d), r4 (9 d) = 2; resolution 2/5 = 0.4
# 乙: raised as of W = r7 r8 = 2; raised_week = r8 = 1; resolved = r7 = 1; resolved_week = 0; open = r8 = 1;
#     overdue = 0; resolution 1/2 = 0.5
# pooled: raised_week 2, resolved_week 2, open 4, overdue 2, resolution 3/7

# rejected_rows as of W36:
# 甲: visits r15 (bad date) + superseded surveys r2, r4 = 3   (visits r14 is dated after W)
# 乙: households r12 + visits r12 + surveys r10 + issues r10 = 4
# pooled: 3 + 4 + visits r13 (春光社区) + issues r11 (blank community) = 9


def write(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def build(root: Path, households=HOUSEHOLDS, visits=VISITS, surveys=SURVEYS, issues=ISSUES, extra=None):
    for kind, rows in (("households", households), ("visits", visits), ("surveys", surveys), ("issues", issues)):
        (root / kind).mkdir(parents=True, exist_ok=True)
        if rows is not None:
            write(root / kind / f"{kind}.csv", rows)
    for rel, rows in (extra or {}).items():
        write(root / rel, rows)
    return clean_folder(root, parse_config(CONFIG, "subdistrict.yml"))


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    return build(tmp_path_factory.mktemp("metrics") / "data")


@pytest.fixture(scope="module")
def m36(cleaned):
    return compute_metrics(cleaned, W).set_index("community")


def row(m, community):
    return m.loc[community]


# --- the hand-worked week -------------------------------------------------------------------------

def test_rows_scope_and_week(cleaned):
    m = compute_metrics(cleaned, W)
    assert m["community"].tolist() == ["甲社区", "乙社区", "测试街道"]
    assert m["scope"].tolist() == ["community", "community", "subdistrict"]
    assert m["week"].tolist() == [W] * 3


@pytest.mark.parametrize("community,households,reached,coverage", [
    ("甲社区", 5, 3, 3 / 5), ("乙社区", 4, 2, 2 / 4), ("测试街道", 9, 5, 5 / 9)])
def test_households_and_coverage(m36, community, households, reached, coverage):
    r = row(m36, community)
    assert (r["households"], r["reached_cum"]) == (households, reached)
    assert r["coverage_cum"] == pytest.approx(coverage)


@pytest.mark.parametrize("community,visits,entered,materials", [
    ("甲社区", 4, 2, 4), ("乙社区", 3, 1, 3), ("测试街道", 7, 3, 7)])
def test_visits_entered_materials_week(m36, community, visits, entered, materials):
    r = row(m36, community)
    assert (r["visits_week"], r["entered_week"], r["materials_week"]) == (visits, entered, materials)


@pytest.mark.parametrize("community,week,cum", [("甲社区", 3, 3), ("乙社区", 1, 2), ("测试街道", 4, 5)])
def test_returns(m36, community, week, cum):
    r = row(m36, community)
    assert (r["returns_week"], r["returns_cum"]) == (week, cum)


@pytest.mark.parametrize("community,rate_cum,n_cum,rate_week,n_week", [
    ("甲社区", 2 / 3, 3, 2 / 3, 3),
    ("乙社区", 1.0, 1, None, 0),
    ("测试街道", 3 / 4, 4, 2 / 3, 3),  # (2 + 1) / (3 + 1), never the mean of rates
])
def test_awareness(m36, community, rate_cum, n_cum, rate_week, n_week):
    r = row(m36, community)
    assert (r["awareness_n_cum"], r["awareness_n_week"]) == (n_cum, n_week)
    assert r["awareness_rate_cum"] == pytest.approx(rate_cum)
    if rate_week is None:
        assert pd.isna(r["awareness_rate_week"])
    else:
        assert r["awareness_rate_week"] == pytest.approx(rate_week)


@pytest.mark.parametrize("community,n_cum,n_week", [("甲社区", 2, 2), ("乙社区", 2, 1), ("测试街道", 4, 3)])
def test_support_invalid_answer_left_out(m36, community, n_cum, n_week):
    r = row(m36, community)
    assert (r["support_n_cum"], r["support_n_week"]) == (n_cum, n_week)
    assert r["support_rate_cum"] == 1.0 and r["support_rate_week"] == 1.0


def test_questions_not_asked_have_empty_rates(m36):
    for x in ("participation", "satisfaction", "garbage_sorting"):
        assert (m36[f"{x}_n_cum"] == 0).all() and (m36[f"{x}_n_week"] == 0).all()
        assert m36[f"{x}_rate_cum"].isna().all() and m36[f"{x}_rate_week"].isna().all()
        assert (m36[f"{x}_status"] == "").all()


@pytest.mark.parametrize("community,raised,resolved,open_,overdue,rate", [
    ("甲社区", 1, 2, 3, 2, 2 / 5), ("乙社区", 1, 0, 1, 0, 1 / 2), ("测试街道", 2, 2, 4, 2, 3 / 7)])
def test_issues(m36, community, raised, resolved, open_, overdue, rate):
    r = row(m36, community)
    assert (r["issues_raised_week"], r["issues_resolved_week"], r["issues_open"], r["issues_overdue"]) == (
        raised, resolved, open_, overdue)
    assert r["resolution_rate_cum"] == pytest.approx(rate)


@pytest.mark.parametrize("community,rejected", [("甲社区", 3), ("乙社区", 4), ("测试街道", 9)])
def test_rejected_rows(m36, community, rejected):
    assert row(m36, community)["rejected_rows"] == rejected


def test_overdue_days_parameter(cleaned):
    # overdue_days = 8: r2 (8 days) is no longer overdue, r4 (9 days) still is
    m = compute_metrics(cleaned, W, overdue_days=8).set_index("community")
    assert m.loc["甲社区", "issues_overdue"] == 1
    # overdue_days = 3: 甲 r2 r3 r4 (8, 7, 9 days), 乙 r8 (4 days)
    m = compute_metrics(cleaned, W, overdue_days=3).set_index("community")
    assert m["issues_overdue"].tolist() == [3, 1, 4]


def test_overdue_days_from_config(tmp_path):
    c = build(tmp_path / "data")
    c2 = clean_folder(tmp_path / "data", parse_config({**CONFIG, "overdue_days": 8}, "s.yml"))
    assert compute_metrics(c, W).set_index("community").loc["甲社区", "issues_overdue"] == 2
    assert compute_metrics(c2, W).set_index("community").loc["甲社区", "issues_overdue"] == 1


def test_history_takes_overdue_days(cleaned):
    history = metrics_over_weeks(cleaned, W, overdue_days=3)
    # The campaign starts in the week of the first dated row (issue r7, 08-28: W35).
    assert history["week"].unique().tolist() == ["2023-W35", W]
    assert week_rows(history, W)["issues_overdue"].tolist() == [3, 1, 4]  # as test_overdue_days_parameter
    # As of 09-03, more than 3 days: only 甲 r6 (raised 08-29, resolved 09-04, so open); 乙 r7 is resolved.
    assert week_rows(history, "2023-W35")["issues_overdue"].tolist() == [1, 0, 1]


def test_history_rows_are_the_weeks_metrics(cleaned):
    history = metrics_over_weeks(cleaned, W)
    pd.testing.assert_frame_equal(week_rows(history, W), compute_metrics(cleaned, W))


def test_reached_as_of_sunday(cleaned):
    h = cleaned.households
    reached = reached_households(h, cleaned.visits, pd.Timestamp("2023-09-10"))
    # 甲 101 (r2), 102 (r4), 201 (r5, online); 乙 101 (r9), 102 (r10, Sunday evening); not the vacant 甲 202 (r6)
    got = sorted(zip(h.loc[reached, "community"], h.loc[reached, "room"].astype(str)))
    assert got == [("乙社区", "101"), ("乙社区", "102"), ("甲社区", "101"), ("甲社区", "102"), ("甲社区", "201")]
    # As of W35's Sunday only 甲 101.
    assert reached_households(h, cleaned.visits, pd.Timestamp("2023-09-03")).sum() == 1


def test_open_and_overdue_as_of_sunday(cleaned):
    i = cleaned.issues
    state = issue_state(i, pd.Timestamp("2023-09-10"), 7)
    desc = i["description"].to_numpy()
    assert sorted(desc[state.raised]) == ["A", "B", "C", "D", "E", "F", "G"]  # H is raised after W
    assert sorted(desc[state.resolved]) == ["D", "E", "F"]  # C is resolved after W
    assert sorted(desc[state.open]) == ["A", "B", "C", "G"]
    assert sorted(desc[state.overdue]) == ["A", "C"]  # B is exactly 7 days old
    assert sorted(desc[issue_state(i, pd.Timestamp("2023-09-10"), 1).overdue]) == ["A", "B", "C", "G"]


def test_rejects_as_of_sunday(cleaned):
    r = cleaned.rejects
    seen = r[rejects_as_of(r, pd.Timestamp("2023-09-10"))]
    # households r12, visits r12 r13 r15, surveys r10, issues r10 r11; not visits r14 (dated after W)
    assert sorted(zip(seen["kind"], seen["row"].astype(int))) == [
        ("households", 12), ("issues", 10), ("issues", 11), ("surveys", 10),
        ("visits", 12), ("visits", 13), ("visits", 15)]
    # With the two superseded returns they make W36's 9 rejected rows (test_rejected_rows).
    assert len(week_view(cleaned, W).rejects) == 9


def test_previous_week_as_of_w35(cleaned):
    # W35 = 08-28 … 09-03
    m = compute_metrics(cleaned, "2023-W35").set_index("community")
    # 甲: reached = {101 (r2)}; visits r2 r3, entered r2, materials 2+1
    assert m.loc["甲社区", ["reached_cum", "visits_week", "entered_week", "materials_week"]].tolist() == [1, 2, 1, 3]
    assert m.loc["乙社区", ["reached_cum", "visits_week"]].tolist() == [0, 0]
    # surveys: 甲 r2 stands alone (不知道) → awareness 0/1; 乙 r8 → 1/1; nothing superseded yet
    assert m.loc["甲社区", "awareness_rate_cum"] == 0.0 and m.loc["甲社区", "awareness_n_cum"] == 1
    assert m.loc["测试街道", "awareness_rate_cum"] == pytest.approx(1 / 2)
    # issues as of 09-03: 甲 raised r2 r3 r4 r6, none resolved yet (r6 on 09-04), none older than 7 days
    assert m.loc["甲社区", ["issues_open", "issues_overdue", "issues_resolved_week"]].tolist() == [4, 0, 0]
    assert m.loc["甲社区", "resolution_rate_cum"] == 0.0
    # 乙: r7 raised 08-28 and resolved 08-30 → 1/1
    assert m.loc["乙社区", ["issues_raised_week", "issues_resolved_week", "issues_open"]].tolist() == [1, 1, 0]
    # rejects: 甲 r15 (bad date); 乙 household r12; the rest is dated in W36 → pooled 2
    assert m["rejected_rows"].tolist() == [1, 1, 2]


def test_week_37_sees_the_later_rows(cleaned):
    m = compute_metrics(cleaned, "2023-W37").set_index("community")
    # 甲 adds r8 (2-1-102 entered) → reached 4; survey r11 supersedes r3 (1-1-101), r7 adds 1-1-201
    assert m.loc["甲社区", "reached_cum"] == 4
    assert m.loc["甲社区", "returns_cum"] == 4  # r5, r6, r7, r11
    # r4 is resolved on 09-12 in W37
    assert m.loc["甲社区", "issues_resolved_week"] == 1


def test_metrics_csv_column_order(cleaned):
    expected = [
        "scope", "community", "week",
        "households", "reached_cum", "coverage_cum", "visits_week", "entered_week", "returns_week", "returns_cum",
        "awareness_rate_week", "awareness_rate_cum", "awareness_n_week", "awareness_n_cum",
        "support_rate_week", "support_rate_cum", "support_n_week", "support_n_cum",
        "participation_rate_week", "participation_rate_cum", "participation_n_week", "participation_n_cum",
        "satisfaction_rate_week", "satisfaction_rate_cum", "satisfaction_n_week", "satisfaction_n_cum",
        "garbage_sorting_rate_week", "garbage_sorting_rate_cum", "garbage_sorting_n_week", "garbage_sorting_n_cum",
        "issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue", "resolution_rate_cum",
        "materials_week", "rejected_rows",
    ]
    columns = list(compute_metrics(cleaned, W).columns)
    assert columns[:len(expected)] == expected
    assert len(set(columns)) == len(columns)


def test_empty_denominators_give_empty_rates(tmp_path):
    # a community with only vacant households and no issues: coverage and resolution rate are empty
    hh = [HOUSEHOLDS[0], ["甲社区", "1", "1-1-101", "空置"]]
    m = compute_metrics(build(tmp_path / "data", households=hh, visits=None, surveys=None, issues=None), W)
    r = m.set_index("community").loc["甲社区"]
    assert r["households"] == 0
    assert pd.isna(r["coverage_cum"]) and pd.isna(r["resolution_rate_cum"])
    assert r["coverage_status"] == ""


def test_wilson_interval_columns(m36):
    # 甲 coverage 3/5, awareness cum 2/3; pooled coverage 5/9 (values computed independently)
    assert m36.loc["甲社区", "coverage_cum_low"] == pytest.approx(0.230724281276, abs=1e-9)
    assert m36.loc["甲社区", "coverage_cum_high"] == pytest.approx(0.882379225767, abs=1e-9)
    assert m36.loc["甲社区", "awareness_rate_cum_low"] == pytest.approx(0.207659600802, abs=1e-9)
    assert m36.loc["甲社区", "awareness_rate_cum_high"] == pytest.approx(0.938508055280, abs=1e-9)
    assert m36.loc["测试街道", "coverage_cum_low"] == pytest.approx(0.266651293495, abs=1e-9)
    assert m36.loc["测试街道", "coverage_cum_high"] == pytest.approx(0.811221478902, abs=1e-9)
    assert pd.isna(m36.loc["乙社区", "awareness_rate_week_low"])  # n = 0


def test_low_sample_flags_in_the_fixture(m36):
    assert m36["awareness_low_sample"].tolist() == [True, True, True]  # n = 3, 1, 4 < 30


def test_status_against_targets(cleaned):
    m = compute_metrics(cleaned, W).set_index("community")
    # default coverage target 1.0: 0.6 and 0.5 and 5/9 are all more than 5 points below
    assert m["coverage_status"].tolist() == ["red", "red", "red"]
    # default support target 0.95: 1.0 → green; awareness 2/3, 1.0, 0.75 → red, green, red
    assert m["support_status"].tolist() == ["green", "green", "green"]
    assert m["awareness_status"].tolist() == ["red", "green", "red"]
    targets = {**cleaned.config.targets, "coverage": 0.65, "awareness": 0.70}
    m = compute_metrics(cleaned, W, targets=targets).set_index("community")
    # 0.6 vs 0.65: exactly 5 points below → amber; 0.5 → red; 5/9 = 0.5556 → red
    assert m["coverage_status"].tolist() == ["amber", "red", "red"]
    # 2/3 vs 0.70 → amber (3.3 points); 1.0 → green; 0.75 → green
    assert m["awareness_status"].tolist() == ["amber", "green", "green"]


def test_latest_week(cleaned):
    assert latest_week(cleaned, today=dt.date(2023, 9, 11)) == "2023-W36"
    # W36's Sunday is 09-10: on that Sunday the week is not over yet, so W35 is the latest complete week
    assert latest_week(cleaned, today=dt.date(2023, 9, 10)) == "2023-W35"
    assert latest_week(cleaned, today=dt.date(2023, 9, 30)) == "2023-W37"
    assert latest_week(cleaned, today=dt.date(2023, 8, 1)) is None


def test_week_view_superseded(cleaned):
    view = week_view(cleaned, W)
    assert sorted(view.superseded["row"]) == [2, 4]
    assert (view.monday, view.sunday) == (pd.Timestamp("2023-09-04"), pd.Timestamp("2023-09-10"))


# --- Wilson interval, status, low sample -----------------------------------------------------------------

@pytest.mark.parametrize("k,n,low,high", [
    (1, 2, 0.094531205734, 0.905468794266),
    (45, 50, 0.786397685625, 0.956524235068),
    (0, 10, 0.0, 0.277532799863),
    (10, 10, 0.722467200137, 1.0),
    (3, 5, 0.230724281276, 0.882379225767),
])
def test_wilson_literal_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert float(lo) == pytest.approx(low, abs=1e-9)
    assert float(hi) == pytest.approx(high, abs=1e-9)


def test_wilson_vectorised_and_empty_denominator():
    lo, hi = wilson(np.array([1, 45, 0]), np.array([2, 50, 0]))
    assert lo[0] == pytest.approx(0.094531205734, abs=1e-9) and hi[1] == pytest.approx(0.956524235068, abs=1e-9)
    assert np.isnan(lo[2]) and np.isnan(hi[2])


@pytest.mark.parametrize("rate,target,expected", [
    (0.95, 0.95, "green"),
    (0.96, 0.95, "green"),
    (0.95 - 1e-10, 0.95, "green"),  # within the 1e-9 tolerance
    (0.90, 0.95, "amber"),  # exactly 5 points below (0.90 - 0.95 is -0.05000000000000004 in floats)
    (0.92, 0.95, "amber"),
    (0.8999, 0.95, "red"),
    (0.85, 0.90, "amber"),
    (0.75, 0.80, "amber"),
    (0.95, 1.0, "amber"),
    (1.0, 1.0, "green"),
    (0.0, 0.95, "red"),
    (float("nan"), 0.95, ""),
])
def test_status(rate, target, expected):
    assert str(status(rate, target)) == expected


def test_status_vectorised():
    assert status(np.array([0.95, 0.90, 0.8999, np.nan]), 0.95).tolist() == ["green", "amber", "red", ""]


def anonymous_surveys(counts: dict, when: str = "2023-09-05 10:00") -> list:
    """Survey rows: per community (pos, neg) anonymous returns with awareness 知道 / 不知道."""
    rows = [["提交时间", "社区", "您知道我市正在创建全国文明城市吗"]]
    for community, (pos, neg) in counts.items():
        rows += [[when, community, "知道"]] * pos + [[when, community, "不知道"]] * neg
    return rows


def test_low_sample_threshold_is_30(tmp_path):
    # 甲: 30 answers (not low), 乙: 29 answers (样本不足), pooled 59
    c = build(tmp_path / "data", visits=None, issues=None, surveys=anonymous_surveys({"甲社区": (28, 2), "乙社区": (29, 0)}))
    m = compute_metrics(c, W).set_index("community")
    assert m["awareness_n_cum"].tolist() == [30, 29, 59]
    assert m["awareness_low_sample"].tolist() == [False, True, False]
    assert m["awareness_rate_cum"].tolist() == pytest.approx([28 / 30, 1.0, 57 / 59])
    assert m["awareness_status"].tolist() == ["amber", "green", "green"]  # 0.9333 vs 0.95: amber


# --- properties --------------------------------------------------------------------------------------------

@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts=st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)),
       reached=st.tuples(st.integers(0, 5), st.integers(0, 4)))
def test_property_pooled_rate_is_sum_of_numerators_over_sum_of_denominators(counts, reached):
    p1, n1, p2, n2 = counts
    visits = [VISITS[0]]
    for i, addr in enumerate(["1-1-101", "1-1-102", "1-1-201", "2-1-101", "2-1-102"][:reached[0]]):
        visits.append([f"2023-09-0{i + 4}", "甲社区", addr, "已入户", "1"])
    for i, addr in enumerate(["1-1-101", "1-1-102", "1-1-103", "1-1-104"][:reached[1]]):
        visits.append([f"2023-09-0{i + 4}", "乙社区", addr, "线上", "1"])
    with tempfile.TemporaryDirectory() as tmp:
        c = build(Path(tmp) / "data", visits=visits, issues=None,
                  surveys=anonymous_surveys({"甲社区": (p1, n1), "乙社区": (p2, n2)}))
    m = compute_metrics(c, W).set_index("community")
    pooled = m.loc["测试街道"]
    assert pooled["awareness_n_cum"] == p1 + n1 + p2 + n2
    if p1 + n1 + p2 + n2:
        assert pooled["awareness_rate_cum"] == pytest.approx((p1 + p2) / (p1 + n1 + p2 + n2))
    else:
        assert pd.isna(pooled["awareness_rate_cum"])
    for community, (p, n) in (("甲社区", (p1, n1)), ("乙社区", (p2, n2))):
        rate = m.loc[community, "awareness_rate_cum"]
        assert (pd.isna(rate) if p + n == 0 else rate == pytest.approx(p / (p + n)))
    assert pooled["coverage_cum"] == pytest.approx((reached[0] + reached[1]) / 9)
    assert m.loc["甲社区", "coverage_cum"] == pytest.approx(reached[0] / 5)


def later_visit(day, community, address, outcome, materials):
    return [f"2023-09-{day:02d}", community, address, outcome, materials]


LATER_VISITS = st.builds(later_visit, st.integers(11, 30), st.sampled_from(["甲社区", "乙社区", "春光社区", ""]),
                         st.sampled_from(["1-1-101", "1-1-102", "2-1-102", "1-1-104", "9-9-909", "人民路1号", ""]),
                         st.sampled_from(["已入户", "线上", "不在家", "改天再来", ""]), st.sampled_from(["1", "", "两份"]))
LATER_SURVEYS = st.builds(
    lambda day, hh, community, address, a, s: [f"2023-09-{day:02d} {hh:02d}:00", community, address, a, s],
    st.integers(11, 30), st.integers(0, 23), st.sampled_from(["甲社区", "乙社区", "春光社区"]),
    st.sampled_from(["1-1-101", "1-1-102", "", "9-9-909", "坏地址"]), st.sampled_from(["知道", "不知道", "还行"]),
    st.sampled_from(["支持", "不支持", ""]))
LATER_ISSUES = st.builds(
    lambda day, community, status, resolved: [f"2023-09-{day:02d}", community, "环境卫生", f"later {day}", "", status,
                                              resolved],
    st.integers(11, 30), st.sampled_from(["甲社区", "乙社区", "春光社区"]), st.sampled_from(["办理中", "已办结", "暂缓"]),
    st.sampled_from(["", "2023-09-30", "2023-09-01"]))


def insert_randomly(rows, extra, positions):
    body = list(rows[1:])
    for item, pos in zip(extra, positions):
        body.insert(pos % (len(body) + 1), item)
    return [rows[0], *body]


@pytest.fixture(scope="module")
def baseline_w36(cleaned):
    return compute_metrics(cleaned, W)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(visits=st.lists(LATER_VISITS, max_size=6), surveys=st.lists(LATER_SURVEYS, max_size=6),
       issues=st.lists(LATER_ISSUES, max_size=4), positions=st.lists(st.integers(0, 100), min_size=16, max_size=16),
       new_file=st.booleans())
def test_property_rows_dated_after_w_never_change_ws_metrics(baseline_w36, visits, surveys, issues, positions,
                                                             new_file):
    with tempfile.TemporaryDirectory() as tmp:
        if new_file:  # the later rows arrive in extra files that sort before the original ones
            extra = {"visits/a_later.csv": [VISITS[0], *visits], "surveys/a_later.csv": [SURVEYS[0], *surveys],
                     "issues/a_later.csv": [ISSUES[0], *issues]}
            c = build(Path(tmp) / "data", extra=extra)
        else:  # or inserted anywhere in the original files
            c = build(Path(tmp) / "data", visits=insert_randomly(VISITS, visits, positions[:6]),
                      surveys=insert_randomly(SURVEYS, surveys, positions[6:12]),
                      issues=insert_randomly(ISSUES, issues, positions[12:]))
    got = compute_metrics(c, W)
    pd.testing.assert_frame_equal(got, baseline_w36, check_dtype=False)


def test_the_history_does_not_depend_on_how_text_is_stored():
    # metrics_over_weeks converts the tables' Arrow text to object arrays once (speed): every
    # week's row must be what compute_metrics gives on the tables as they were cleaned.
    from canvass.config import load_config

    root = Path(__file__).resolve().parent.parent / "data" / "sample"
    cleaned = clean_folder(root, load_config(root))
    assert isinstance(cleaned.visits["key"].dtype, pd.StringDtype)  # the case the conversion is for
    history = metrics_over_weeks(cleaned, "2023-W37")
    weeks = list(pd.unique(history["week"]))
    assert len(weeks) > 1
    for w in weeks:
        pd.testing.assert_frame_equal(week_rows(history, w), compute_metrics(cleaned, w))
    assert isinstance(cleaned.visits["key"].dtype, pd.StringDtype)  # the caller's tables are left as they were
