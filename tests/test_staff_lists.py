"""Staff workbooks and flags.csv: contents worked out by hand on tiny folders."""

from __future__ import annotations

from openpyxl import load_workbook

from canvass.config import parse_config
from canvass.ingest.clean import clean_folder
from canvass.report import staff_lists

from .test_clean import make_data, write

REG = [["甲社区", "1", f"3-2-50{i}", "常住", f"王小{i}", f"1381234567{i}"] for i in range(1, 8)]
HEAD = ["序号", "提交时间", "所用时间", "来自IP", "社区", "住址", "您知道我市正在创建全国文明城市吗", "意见建议"]


def folder(tmp_path):
    data = make_data(tmp_path / "d", households=REG, visits=[
        ["2023-09-05", "甲社区", "3-2-501", "已入户", "1", "楼长王"], ["2023-09-05", "甲社区", "3-2-502", "不在家", "", ""]])
    rows = [[str(i), f"2023-09-05 10:0{i}:00", "8秒" if i <= 2 else "100秒", "9.9.9.9" if i <= 5 else f"1.1.1.{i}",
             "甲社区", f"3-2-50{i}", "知道", ""] for i in range(1, 8)]
    write(data, "surveys", "s.csv", [HEAD, *rows])
    return clean_folder(data, parse_config({}, "s.yml"))


def test_flags_csv_rows(tmp_path):
    c = folder(tmp_path)
    t = staff_lists.flags_table(c, "2023-W36")
    # rows 2-6 come from one IP within 4 minutes (burst); rows 2-3 took 8 s (too fast)
    assert t["row"].tolist() == [2, 3, 4, 5, 6]
    assert t["flags"].tolist() == ["too_fast;burst", "too_fast;burst", "burst", "burst", "burst"]
    assert t["submitted_at"].tolist()[0] == "2023-09-05 10:01:00"


def test_backcheck_lists_flagged_then_samples_all_others_when_few(tmp_path):
    c = folder(tmp_path)
    staff_lists.write_backchecks(c, "2023-W36", tmp_path / "bc", {"甲社区": "jia"})
    rows = list(load_workbook(tmp_path / "bc" / "jia.xlsx").active.values)
    assert rows[0] == ("网格", "楼号", "单元", "室", "户主", "电话", "提交时间", "标记", "核实结果")
    assert [r[3] for r in rows[1:]] == [501, 502, 503, 504, 505, 506, 507]  # 5 flagged by time, then the 2 others
    assert rows[1][4:8] == ("王**", "138****5671", "2023-09-05 10:01:00", "用时过短、集中提交")
    assert rows[6][7] is None and rows[7][7] is None  # sampled returns carry no flag
    assert not any("13812345671" in str(v) for r in rows for v in r)


def test_collectors_count_flags_by_the_same_day_visitor(tmp_path):
    c = folder(tmp_path)
    g = staff_lists.collector_table(c, "2023-W36")
    assert g[["visitor", "role", "flagged"]].values.tolist() == [["（无同日走访记录）", "其他", 4], ["楼长王", "楼长", 1]]


def test_issue_worklist_overdue_first(tmp_path):
    data = make_data(tmp_path / "d", issues=[
        ["2023-09-08", "甲社区", "环境卫生", "王小明家门口垃圾 13812345678", "社区解决", "办理中", ""],
        ["2023-08-20", "甲社区", "设施维修", "路灯坏了", "上报", "办理中", ""],
        ["2023-08-21", "甲社区", "设施维修", "已修好", "", "已办结", "2023-08-25"]])
    c = clean_folder(data, parse_config({}, "s.yml"))
    staff_lists.write_issue_lists(c, "2023-W36", tmp_path / "is", {"甲社区": "jia"}, 7)
    rows = list(load_workbook(tmp_path / "is" / "jia.xlsx").active.values)
    assert [r[1:5] for r in rows[1:]] == [("设施维修", "已上报", 21, "超期"), ("环境卫生", "社区解决", 2, None)]
    assert "13812345678" not in rows[2][5] and "王小明" not in rows[2][5]


def test_text_starting_with_equals_is_text_not_a_formula(tmp_path):
    """A description like =HYPERLINK(...) must not become a live formula in a staff workbook."""
    import zipfile

    data = make_data(tmp_path / "d", issues=[
        ["2023-09-08", "甲社区", "环境卫生", '=HYPERLINK("http://x","点我")', "社区解决", "办理中", ""],
        ["2023-09-09", "甲社区", "环境卫生", "=1+2", "社区解决", "办理中", ""]])
    c = clean_folder(data, parse_config({}, "s.yml"))
    staff_lists.write_issue_lists(c, "2023-W36", tmp_path / "is", {"甲社区": "jia"}, 7)
    path = tmp_path / "is" / "jia.xlsx"
    sheet = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in sheet  # no formula cell at all
    ws = load_workbook(path).active
    cells = {ws.cell(r, 6).value: ws.cell(r, 6).data_type for r in (2, 3)}
    assert cells == {'=HYPERLINK("http://x","点我")': "s", "=1+2": "s"}


def test_excel_value_keeps_numbers_and_plain_text():
    from canvass.report.tables import excel_value

    assert excel_value("a\x01b") == "ab" and excel_value(3) == 3 and excel_value(float("nan")) is None
    assert str(excel_value("=SUM(A1)")) == "=SUM(A1)" and not isinstance(excel_value("=SUM(A1)"), str)
    assert excel_value("+1") == "+1" and excel_value("@x") == "@x"  # stored as text by openpyxl already


def test_responsible_workbook_shows_coverage_as_a_percentage_and_backcheck_keeps_its_header(tmp_path):
    reg = [["甲社区", "1", "3-2-501", "常住", "王小明", "", "张伟"], ["甲社区", "1", "3-2-502", "常住", "李华", "", "张伟"],
           ["甲社区", "1", "3-2-503", "常住", "赵六", "", "张伟"]]
    data = make_data(tmp_path / "d", households=reg, visits=[["2023-09-05", "甲社区", "3-2-501", "已入户", "1", ""]])
    (data / "households" / "h.csv").write_text(
        "社区,网格,地址,居住状态,户主,联系电话,包户人\n" + "\n".join(",".join(r) for r in reg) + "\n", encoding="utf-8")
    c = clean_folder(data, parse_config({}, "s.yml"))
    staff_lists.write_responsible(c, "2023-W36", tmp_path / "r", {"甲社区": "jia"})
    ws = load_workbook(tmp_path / "r" / "jia.xlsx").active
    assert [ws.cell(2, i).value for i in (1, 2, 3)] == ["张*", 3, 1]
    assert ws.cell(2, 4).value == round(1 / 3, 4) and ws.cell(2, 4).number_format == "0.0%"
    staff_lists.write_backchecks(c, "2023-W36", tmp_path / "bc", {"甲社区": "jia"})
    bc = load_workbook(tmp_path / "bc" / "jia.xlsx").active
    assert bc.freeze_panes == "A2"
