"""Section 11 counts (activities, shops, who visits) and section 10 credible counts, by hand."""

from __future__ import annotations

from canvass import campaign
from canvass.config import parse_config
from canvass.ingest.clean import clean_folder

from .test_clean import make_data, visit, write

A_HEAD = ["活动日期", "社区", "活动类型", "参与人数", "其中党员", "服务时长", "清理点位"]
S_HEAD = ["巡查日期", "社区", "商铺名称", "巡查结果", "存在问题", "处理措施", "整改期限", "责任书"]


def folder(tmp_path):
    data = make_data(tmp_path / "d", visits=[visit(date="2023-08-29"), visit(visitor="楼长王", date="2023-09-05"),
                                               visit(visitor="志愿者", address="3-2-502", materials="3", date="2023-09-06")])
    write(data, "activities", "a.csv", [A_HEAD,
        ["2023-09-02", "甲社区", "星期六大扫除", "10人", "2", "20", "5处"],   # W35: 甲 cleanup
        ["2023-09-02", "乙社区", "卫生清理", "8", "", "16小时", "3"],         # W35: 乙 cleanup
        ["2023-09-09", "甲社区", "爱国卫生大清理", "12人", "3", "2.5小时", "8处"],  # W36: 甲 cleanup
        ["2023-09-06", "甲社区", "创城宣传", "5人次", "", "", ""],             # W36: publicity
        ["2023-09-12", "乙社区", "卫生清理", "9", "", "", ""]])               # W37: invisible to W36
    write(data, "shops", "s.csv", [S_HEAD,
        ["2023-08-30", "甲社区", "老王面馆", "不合格", "占道经营", "限期整改", "2023-09-03", "已签"],  # W35
        ["2023-09-05", "甲社区", "老王面馆", "不合格", "占道经营、乱停车", "联合执法", "2023-09-10", ""],  # W36, deadline = Sunday
        ["2023-09-05", "甲社区", "小李超市", "合格", "", "", "", "否"],
        ["2023-09-06", "甲社区", "花店", "不合格", "门前堆放杂物", "当场整改", "2023-09-08", "是"],
        ["2023-09-01", "乙社区", "乙面馆", "合格", "", "", "", "是"]])
    return clean_folder(data, parse_config({"campaign_start": "2023-08-28"}, "s.yml"))


def test_activity_counts_two_weeks(tmp_path):
    c = folder(tmp_path)  # communities in registry order: 甲社区, 乙社区
    w36 = campaign.activity_counts(c, "2023-W36")
    assert w36["activities_week"].tolist() == [2, 0] and w36["cleanups_week"].tolist() == [1, 0]
    assert w36["turnout_week"].tolist() == [17, 0] and w36["turnout_cum"].tolist() == [27, 8]
    assert w36["party_turnout_week"].tolist() == [3, 0] and w36["volunteer_hours_week"].tolist() == [2.5, 0]
    assert w36["spots_cleaned_week"].tolist() == [8, 0]
    # campaign W35..W36: 甲 cleaned both weeks, 乙 only W35; pooled: weeks where every community cleaned = 1
    assert w36["cleanup_weeks"].tolist() == [2, 1] and w36["campaign_weeks"].tolist() == [2, 2]
    assert w36["_pooled"] == {"cleanup_weeks": 1, "campaign_weeks": 2}
    w35 = campaign.activity_counts(c, "2023-W35")
    assert w35["cleanups_week"].tolist() == [1, 1] and w35["_pooled"]["cleanup_weeks"] == 1


def test_shop_counts_two_weeks(tmp_path):
    c = folder(tmp_path)
    w36 = campaign.shop_counts(c, "2023-W36")
    assert w36["shops_known"].tolist() == [3, 1] and w36["shops_inspected_week"].tolist() == [3, 0]
    assert w36["inspections_week"].tolist() == [3, 0] and w36["inspection_pass_num"].tolist() == [1, 0]
    # signed: 老王面馆 latest non-blank 已签 → yes; 小李超市 no; 花店 yes; 乙面馆 yes
    assert w36["shops_signed_num"].tolist() == [2, 1]
    # open: 老王面馆 (deadline 09-10 = Sunday: not overdue), 花店 (09-08 < Sunday: overdue)
    assert w36["violations_open"].tolist() == [2, 0] and w36["violations_overdue"].tolist() == [1, 0]
    assert w36["enforcement_week"].tolist() == [1, 0]
    assert (w36["occupation_week"].tolist(), w36["parking_week"].tolist(), w36["clutter_week"].tolist()) == (
        [1, 0], [1, 0], [1, 0])
    w35 = campaign.shop_counts(c, "2023-W35")
    # W35's Sunday is 09-03: a deadline on the Sunday is not overdue
    assert w35["violations_open"].tolist() == [1, 0] and w35["violations_overdue"].tolist() == [0, 0]

def test_role_counts(tmp_path):
    c = folder(tmp_path)
    r = campaign.role_counts(c, "2023-W36")
    assert r["visits_week_building_leader"].tolist() == [1, 0] and r["visits_week_volunteer"].tolist() == [1, 0]
    assert r["visits_week_staff"].tolist() == [0, 0] and r["visits_week_other"].tolist() == [0, 0]
    assert r["materials_cum"].tolist() == [5, 0]  # 1 + 1 + 3


def test_absent_folders_leave_their_columns_out_and_change_nothing_else(tmp_path):
    import shutil

    from canvass.metrics import compute_metrics

    with_all = folder(tmp_path / "a")
    data = tmp_path / "b"
    shutil.copytree(tmp_path / "a" / "d", data)
    # only rows that are valid, so that rejected_rows (which counts their rejects) is comparable
    shutil.rmtree(data / "activities")
    shutil.rmtree(data / "shops")
    without = clean_folder(data, parse_config({"campaign_start": "2023-08-28"}, "s.yml"))
    a, b = compute_metrics(with_all, "2023-W36"), compute_metrics(without, "2023-W36")
    extra = set(campaign.ACTIVITY_COLUMNS) | set(campaign.SHOP_COLUMNS)
    assert extra <= set(a.columns) and not extra & set(b.columns)
    assert list(b.columns) == [c for c in a.columns if c not in extra]
    for col in b.columns:
        assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col


def test_followup_gains_a_responsible_column_when_the_registry_names_them(tmp_path):
    from openpyxl import load_workbook

    from canvass.report.worklists import write_followup

    reg = [["甲社区", "1", "3-2-501", "常住", "王小明", "", ""], ["甲社区", "1", "3-2-502", "常住", "", "", "李包户"]]
    data = make_data(tmp_path / "d", households=[], visits=[visit()])
    write(data, "households", "h.csv", [["社区", "网格", "地址", "居住状态", "户主", "联系电话", "包户人"], *reg])
    c = clean_folder(data, parse_config({}, "s.yml"))
    write_followup(c, "甲社区", "2023-W36", tmp_path / "f.xlsx")
    rows = list(load_workbook(tmp_path / "f.xlsx").active.values)
    assert rows[0][-1] == "包户人" and rows[1][3] == 502 and rows[1][-1] == "李**"  # masked like 户主
