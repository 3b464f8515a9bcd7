"""Report views: aggregates by grid, building and category on the hand-worked week of test_metrics,
and the numbers a view shows taken from the metrics history, never recomputed."""

from __future__ import annotations

import pandas as pd
import pytest

from canvass.metrics import metrics_over_weeks
from canvass.report.views import (
    building_coverage,
    community_view,
    digest_view,
    grid_coverage,
    issues_by_category,
)
from canvass.report.worklists import unreached

from .test_metrics import W, build

MONDAY, SUNDAY = pd.Timestamp("2023-09-04"), pd.Timestamp("2023-09-10")


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    return build(tmp_path_factory.mktemp("views") / "data")


def test_grid_coverage(cleaned):
    g = grid_coverage(cleaned, SUNDAY, MONDAY)
    # 甲 grid 1: 101 102 201 occupied (202 vacant), all reached; visits r4 r5 r6 in W36 (r6 to the vacant 202)
    # 甲 grid 2: 2-1-101, 2-1-102, none reached (r8 is after W); visit r7
    # 乙 grid 1: 101-104, reached 101 102; visits r9 r10 r11
    assert sorted(g[["community", "grid", "households", "reached", "visits_week"]].values.tolist()) == sorted([
        ["甲社区", "1", 3, 3, 3], ["甲社区", "2", 2, 0, 1], ["乙社区", "1", 4, 2, 3]])


def test_building_coverage(cleaned):
    b = building_coverage(cleaned, SUNDAY)
    assert sorted(b[["community", "building", "households", "reached"]].values.tolist()) == sorted([
        ["甲社区", "1", 3, 3], ["甲社区", "2", 2, 0], ["乙社区", "1", 4, 2]])


def test_issues_by_category(cleaned):
    c = issues_by_category(cleaned, SUNDAY, 7, cleaned.config.issue_categories).set_index("category")
    # 环境卫生 A B (A overdue); 占道经营 C (open as of W, overdue, escalated); 车辆乱停 G (escalated; H after W);
    # 设施维修 D, 噪音扰民 F, 其他 E (绿化 is not a configured category): resolved
    assert c.loc["环境卫生"].tolist() == [2, 0, 2, 1, 0]
    assert c.loc["占道经营"].tolist() == [1, 0, 1, 1, 1]
    assert c.loc["车辆乱停"].tolist() == [1, 0, 1, 0, 1]
    assert c.loc[["设施维修", "噪音扰民", "其他"], "resolved"].tolist() == [1, 1, 1]
    assert c["open"].sum() == 4 and c["overdue"].sum() == 2  # test_metrics.test_issues, pooled


def test_followup_lists_the_households_not_reached(cleaned):
    todo = unreached(cleaned, "甲社区", W)
    assert todo["key"].tolist() == ["甲社区|2|1|101", "甲社区|2|1|102"]  # 1-1-202 is vacant
    assert todo["last_outcome"].tolist()[0] == "拒访"  # r7
    assert len(unreached(cleaned, "乙社区", W)) == 2  # 103 (not home), 104 (never visited)


def test_views_show_the_history_they_are_given(cleaned):
    history = metrics_over_weeks(cleaned, W)
    mark = (history["week"] == W) & (history["community"] == "甲社区")
    history.loc[mark, "reached_cum"] = 999  # a view that recomputed would not show this
    view = community_view(cleaned, "甲社区", W, cleaned.config.targets, history)
    assert view.row["reached_cum"] == 999
    assert view.trend["week"].tolist() == ["2023-W35", W]
    assert view.prev["week"] == "2023-W35"
    digest = digest_view(cleaned, W, cleaned.config.targets, history)
    assert digest.metrics.set_index("community").loc["甲社区", "reached_cum"] == 999
    assert digest.prev["week"].unique().tolist() == ["2023-W35"]


def test_rejects_by_reason_never_shows_an_unknown_community_cell():
    import pandas as pd

    from canvass.report.views import rejects_by_reason

    rejects = pd.DataFrame({"community": ["海港社区", "王建国 13812345678", "春光社区", "海港社区"],
                            "reason": ["missing date", "unknown community", "unknown community", "missing date"]})
    g = rejects_by_reason(rejects, ["海港社区", "修竹社区"])
    assert g[["community", "reason", "rows"]].values.tolist() == [["", "unknown community", 2],
                                                                  ["海港社区", "missing date", 2]]
    # Without the list (a caller that already holds one community's rows) cells are kept.
    assert "春光社区" in set(rejects_by_reason(rejects)["community"])


def test_a_week_without_any_visit_or_questionnaire_says_so(tmp_path):
    from types import SimpleNamespace

    from canvass.config import Config
    from canvass.ingest.clean import clean_folder
    from canvass.metrics import week_without_data
    from canvass.report import sections

    from .test_clean import make_data, visit

    c = clean_folder(make_data(tmp_path / "d", visits=[visit(date="2023-09-05"), visit(date="2023-09-20")]), Config())
    assert week_without_data(c, "2023-W36") == "" and week_without_data(c, "2023-W38") == ""  # 09-05, 09-20
    span = "数据中的走访和问卷日期为 2023-09-05 至 2023-09-20"
    assert week_without_data(c, "2023-W30") == f"本周在数据开始之前，没有任何走访或问卷记录（{span}）"
    assert week_without_data(c, "2023-W37") == f"本周没有任何走访或问卷记录（{span}）"
    assert week_without_data(c, "2024-W10") == f"本周在最后一条记录之后，没有任何走访或问卷记录，本周数字都是 0（{span}）"
    view = SimpleNamespace(district_href=None, subdistrict="测试街道", week="2023-W37", sample_data=False,
                           partial_until=None, empty_week=week_without_data(c, "2023-W37"))
    assert f"本周没有任何走访或问卷记录（{span}）。请确认报告周是否选对" in sections.digest_title(view)
    view.empty_week = ""
    assert "请确认报告周" not in sections.digest_title(view)
