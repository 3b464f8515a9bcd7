"""Cleaning: data contract section 4 (reason codes, their priority, values, row accounting)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvass.config import Config, parse_config
from canvass.ingest.clean import clean_folder
from canvass.metrics import compute_metrics, week_view

KINDS = ("households", "visits", "surveys", "issues")

HH_HEADER = ["社区", "网格", "地址", "居住状态", "户主", "联系电话"]
REGISTRY = [
    ["甲社区", "1", "3-2-501", "常住", "王小明", "13812345678"],  # row 2
    ["甲社区", "1", "3-2-502", "自住", "李华", ""],  # row 3
    ["甲社区", "2", "5-302", "出租", "", ""],  # row 4: two-part address (no unit)
    ["甲社区", "2", "3-2-601", "空置", "", ""],  # row 5: vacant
    ["乙社区", "1", "1-1-101", "", "", ""],  # row 6: blank occupancy → occupied
    ["乙社区", "第1网格", "1-1-102", "常住", "", ""],  # row 7
]
V_HEADER = ["走访日期", "社区", "地址", "走访结果", "发放材料", "走访人"]
S_HEADER = ["提交时间", "社区", "住址", "您知道我市正在创建全国文明城市吗", "您支持创城吗", "您对社区环境满意吗",
            "您参与过创城志愿活动吗", "您了解垃圾分类吗", "意见建议"]
I_HEADER = ["登记日期", "社区", "问题类别", "问题描述", "处理方式", "办理状态", "办结日期"]


def write(root: Path, kind: str, name: str, rows, encoding: str = "utf-8") -> Path:
    """Write ``rows`` (header first) as a CSV file ``root/kind/name``."""
    path = root / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def make_data(root: Path, households=None, visits=None, surveys=None, issues=None) -> Path:
    """Return a data folder: the default registry unless given, plus the given files (lists of rows)."""
    for kind in KINDS:
        (root / kind).mkdir(parents=True, exist_ok=True)
    write(root, "households", "h.csv", [HH_HEADER, *(REGISTRY if households is None else households)])
    for kind, header, rows in (("visits", V_HEADER, visits), ("surveys", S_HEADER, surveys), ("issues", I_HEADER, issues)):
        if rows is not None:
            write(root, kind, f"{kind[0]}.csv", [header, *rows])
    return root


def clean(tmp_path, config: Config | None = None, **files):
    return clean_folder(make_data(tmp_path / "data", **files), config or Config())


def reasons(cleaned, file: str) -> dict:
    """Return Excel row → reason for the rejects of one file."""
    r = cleaned.rejects[cleaned.rejects["file"] == file]
    assert not r["row"].duplicated().any()
    return dict(zip(r["row"].astype(int), r["reason"]))


def fields(cleaned, file: str) -> dict:
    r = cleaned.rejects[cleaned.rejects["file"] == file]
    return dict(zip(r["row"].astype(int), r["field"]))


def assert_rows_accounted(cleaned):
    """Per file: data rows = clean rows + rejected rows, and no row is in two places."""
    tables = [getattr(cleaned, k) for k in KINDS + ("activities", "shops")]  # the optional two when present
    clean_rows = pd.concat([t[["file", "row"]] for t in tables if t is not None], ignore_index=True)
    rej_rows = cleaned.rejects[["file", "row"]]
    both = pd.concat([clean_rows, rej_rows], ignore_index=True)
    assert not both.duplicated().any(), both[both.duplicated(keep=False)]
    for rec in cleaned.files:
        n_clean = int((clean_rows["file"] == rec.file).sum())
        n_rej = int((rej_rows["file"] == rec.file).sum())
        assert rec.data_rows == n_clean + n_rej, (rec.file, rec.data_rows, n_clean, n_rej)
        rows = both.loc[both["file"] == rec.file, "row"].astype(int)
        assert (rows > rec.header_row).all()
    assert set(both["file"]) <= {r.file for r in cleaned.files}


VISIT_OK = ["2023-09-05", "甲社区", "3-2-501", "已入户", "1", "张三"]


def visit(**change):
    row = dict(zip(V_HEADER, VISIT_OK))
    row.update({V_HEADER[["date", "community", "address", "outcome", "materials", "visitor"].index(k)]: v
                for k, v in change.items()})
    return [row[h] for h in V_HEADER]


# --- households --------------------------------------------------------------------------------

def test_registry_is_read(tmp_path):
    c = clean(tmp_path)
    assert c.households["key"].tolist() == ["甲社区|3|2|501", "甲社区|3|2|502", "甲社区|5||302", "甲社区|3|2|601",
                                            "乙社区|1|1|101", "乙社区|1|1|102"]
    assert c.households["occupied"].tolist() == [True, True, True, False, True, True]
    assert c.households["row"].tolist() == [2, 3, 4, 5, 6, 7]
    assert c.communities == ["甲社区", "乙社区"]
    assert len(c.rejects) == 0


def test_household_reasons(tmp_path):
    c = clean(tmp_path, households=REGISTRY + [
        ["", "1", "3-2-701", "常住", "", ""],  # row 8
        ["甲社区", "", "3-2-702", "常住", "", ""],  # row 9
        ["甲社区", "1", "", "常住", "", ""],  # row 10
        ["甲社区", "1", "人民路12号3-2-501", "常住", "", ""],  # row 11
        ["甲社区", "1", "3-2-703", "待核实", "", ""],  # row 12
        ["甲社区", "1", "3号楼2单元501室", "常住", "", ""],  # row 13: same key as row 2
        ["乙社区", "1", "甲社区1-1-103", "常住", "", ""],  # row 14: another community's name
    ])
    assert reasons(c, "households/h.csv") == {
        8: "missing community", 9: "missing grid", 10: "missing address", 11: "unparseable address",
        12: "unknown occupancy", 13: "duplicate household", 14: "unparseable address"}
    assert fields(c, "households/h.csv")[12] == "occupancy"
    assert len(c.households) == len(REGISTRY)
    assert_rows_accounted(c)


def test_registry_dedup_keeps_the_first_valid_row(tmp_path):
    c = clean(tmp_path, households=[
        ["甲社区", "1", "3-2-501", "待核实", "", ""],  # row 2: invalid, does not reserve the key
        ["甲社区", "", "3-2-501", "常住", "", ""],  # row 3: invalid (missing grid)
        ["甲社区", "1", "3号楼2单元501室", "常住", "王小明", ""],  # row 4: first valid → kept
        ["甲社区", "2", "３－２－５０１", "空置", "", ""],  # row 5: same key → duplicate household
        ["乙社区", "1", "3-2-501", "常住", "", ""],  # row 6: same flat, other community: fine
    ])
    assert reasons(c, "households/h.csv") == {2: "unknown occupancy", 3: "missing grid", 5: "duplicate household"}
    assert c.households[["key", "row", "name", "occupied"]].values.tolist() == [
        ["甲社区|3|2|501", 4, "王小明", True], ["乙社区|3|2|501", 6, "", True]]


def test_duplicate_household_across_files(tmp_path):
    data = make_data(tmp_path / "data")
    write(data, "households", "z.csv", [HH_HEADER, ["甲社区", "1", "3号楼2单元0501室", "常住", "", ""]], encoding="gbk")
    c = clean_folder(data, Config())
    assert reasons(c, "households/z.csv") == {2: "duplicate household"}


OCCUPANCY_CASES = [("常住", True), ("自住", True), ("出租", True), ("", True), ("空置", False), ("空房", False),
                   (" 空置 ", False), ("待核实", None), ("空", None), ("常住户", None), ("vacant", None)]


def test_occupancy_values(tmp_path):
    # one household per case, rooms 101, 102, … (row r + 2); None = `unknown occupancy`
    c = clean(tmp_path, households=[["甲社区", "1", f"1-1-{101 + i}", value, "", ""]
                                    for i, (value, _) in enumerate(OCCUPANCY_CASES)])
    by_room = dict(zip(c.households["room"], c.households["occupied"]))
    rejected = reasons(c, "households/h.csv")
    for i, (value, occupied) in enumerate(OCCUPANCY_CASES):
        if occupied is None:
            assert rejected.get(i + 2) == "unknown occupancy", value
            assert str(101 + i) not in by_room
        else:
            assert by_room[str(101 + i)] == occupied, value


def test_grid_spellings_are_one_grid(tmp_path):
    c = clean(tmp_path, households=[
        ["甲社区", "1", "1-1-101", "", "", ""], ["甲社区", "第1网格", "1-1-102", "", "", ""],
        ["甲社区", "一网格", "1-1-103", "", "", ""], ["甲社区", "第一网格", "1-1-104", "", "", ""],
        ["甲社区", "12", "1-1-105", "", "", ""], ["甲社区", "十二网格", "1-1-106", "", "", ""],
        ["甲社区", "东区", "1-1-107", "", "", ""],
    ])
    assert c.households["grid"].tolist() == ["1", "1", "1", "1", "12", "12", "东区"]


def test_split_address_columns(tmp_path):
    data = make_data(tmp_path / "data", households=[])
    header = ["社区", "网格", "楼号", "单元", "室"]
    write(data, "households", "h.csv", [header,
          ["甲社区", "1", "3号楼", "2单元", "501室"],  # row 2
          ["甲社区", "1", "5", "", "302"],  # row 3: blank unit = no unit
          ["甲社区", "1", "", "2", "503"],  # row 4: blank building
          ["甲社区", "1", "3", "2", ""],  # row 5: blank room
          ["甲社区", "1", "3", "2", "0501"],  # row 6: same as row 2
          ["甲社区", "1", "A座", "2", "501"],  # row 7
          ["甲社区", "1", "3", "甲单元", "504"],  # row 8: the unit cannot be read
          ])
    c = clean_folder(data, Config())
    assert c.households["key"].tolist() == ["甲社区|3|2|501", "甲社区|5||302"]
    assert reasons(c, "households/h.csv") == {4: "missing address", 5: "missing address", 6: "duplicate household",
                                              7: "unparseable address", 8: "unparseable address"}


# --- visits ---------------------------------------------------------------------------------------

def test_visits_are_read(tmp_path):
    c = clean(tmp_path, visits=[
        visit(),
        visit(date="2023/9/6 19:30", address="甲社区3号楼2单元502室", outcome="不在家", materials=""),
        visit(date="45175", address="5号楼302室", outcome="微信", materials="2份", visitor=""),
        visit(address="3-2-601", outcome="拒绝", materials="2.0"),  # vacant household: still a valid visit
    ])
    assert len(c.rejects) == 0
    v = c.visits
    assert v["key"].tolist() == ["甲社区|3|2|501", "甲社区|3|2|502", "甲社区|5||302", "甲社区|3|2|601"]
    assert v["outcome"].tolist() == ["entered", "not_home", "online", "refused"]
    assert v["materials"].tolist() == [1, 0, 2, 2]
    assert [d.isoformat()[:10] for d in v["date"]] == ["2023-09-05", "2023-09-06", "2023-09-06", "2023-09-05"]
    assert (v["date"] == v["date"].dt.normalize()).all()  # times are dropped for visits
    assert v["row"].tolist() == [2, 3, 4, 5]


OUTCOME_CASES = [("已入户", "entered"), ("入户成功", "entered"), ("成功", "entered"), ("线上宣传", "online"),
                 ("线上", "online"), ("微信", "online"), ("不在家", "not_home"), ("无人", "not_home"),
                 ("无人在家", "not_home"), ("拒访", "refused"), ("拒绝", "refused"), (" 已入户 ", "entered"),
                 ("入户", None), ("改天再来", None), ("entered", None), ("不在", None)]


def test_outcome_values(tmp_path):
    # one row per case on successive days (so that no row duplicates another); None = `unknown outcome`
    rows = [visit(date=f"2023-09-{i + 1:02d}", outcome=value) for i, (value, _) in enumerate(OUTCOME_CASES)]
    c = clean(tmp_path, visits=rows)
    got = dict(zip(c.visits["row"], c.visits["outcome"]))
    rejected = reasons(c, "visits/v.csv")
    for i, (value, code) in enumerate(OUTCOME_CASES):
        if code is None:
            assert rejected.get(i + 2) == "unknown outcome", value
        else:
            assert got[i + 2] == code, value


MATERIALS_CASES = [("2", 2), ("2.0", 2), ("2份", 2), ("", 0), ("0", 0), ("２", 2), ("12", 12), ("02", 2),
                   ("两份", None), ("-1", None), ("2.5", None), ("二", None), ("2个", None), ("abc", None),
                   ("1e3", None)]


def test_materials_forms(tmp_path):
    rows = [visit(date=f"2023-09-{i + 1:02d}", materials=value) for i, (value, _) in enumerate(MATERIALS_CASES)]
    c = clean(tmp_path, visits=rows)
    got = dict(zip(c.visits["row"], c.visits["materials"]))
    rejected, at = reasons(c, "visits/v.csv"), fields(c, "visits/v.csv")
    for i, (value, count) in enumerate(MATERIALS_CASES):
        if count is None:
            assert (rejected.get(i + 2), at.get(i + 2)) == ("bad materials count", "materials"), value
        else:
            assert got[i + 2] == count, value


def test_each_visit_reason(tmp_path):
    c = clean(tmp_path, visits=[
        visit(),  # row 2
        visit(date=""),  # row 3
        visit(community=""),  # row 4
        visit(address=""),  # row 5
        visit(outcome=""),  # row 6
        visit(community="春光社区"),  # row 7
        visit(community="甲"),  # row 8: 甲 is not 甲社区
        visit(date="2023-13-45"),  # row 9
        visit(date="九月五日"),  # row 10
        visit(address="人民路12号3-2-501"),  # row 11
        visit(address="乙社区1-1-101"),  # row 12: another community's prefix
        visit(address="9-9-999"),  # row 13
        visit(address="3-501"),  # row 14: two-part form does not match 3-2-501
        visit(address="1-1-101"),  # row 15: a household of 乙社区, not of 甲社区
        visit(outcome="改天再来"),  # row 16
        visit(materials="两份"),  # row 17
        visit(date="2023-09-06"),  # row 18: valid
        visit(),  # row 19: same as row 2
        visit(date="2023/9/5", address="3号楼2单元501室", materials="1份"),  # row 20: same values, other spellings
    ])
    assert reasons(c, "visits/v.csv") == {
        3: "missing date", 4: "missing community", 5: "missing address", 6: "missing outcome",
        7: "unknown community", 8: "unknown community", 9: "bad date", 10: "bad date",
        11: "unparseable address", 12: "unparseable address", 13: "unknown household", 14: "unknown household",
        15: "unknown household", 16: "unknown outcome", 17: "bad materials count", 19: "duplicate row",
        20: "duplicate row"}
    assert fields(c, "visits/v.csv") == {
        3: "date", 4: "community", 5: "address", 6: "outcome", 7: "community", 8: "community", 9: "date", 10: "date",
        11: "address", 12: "address", 13: "address", 14: "address", 15: "address", 16: "outcome", 17: "materials",
        19: "", 20: ""}
    assert c.visits["row"].tolist() == [2, 18]
    assert_rows_accounted(c)


def test_duplicate_row_needs_every_mapped_field_equal(tmp_path):
    c = clean(tmp_path, visits=[
        visit(),  # row 2
        visit(visitor="李四"),  # row 3: other visitor
        visit(materials="2"),  # row 4: other count
        visit(date="2023-09-05 10:00"),  # row 5: a visit at a time of that day is another visit
        visit(outcome="入户成功"),  # row 6: another alias of entered: the same normalised value
        visit(date="2023-09-05 10:00", address="3号楼2单元501室"),  # row 7: same as row 5
    ])
    # Contract (section 4): a date-only row and a timed row of the same day compare as days;
    # two timed rows must have equal times.
    assert reasons(c, "visits/v.csv") == {5: "duplicate row", 6: "duplicate row", 7: "duplicate row"}


def test_two_timed_visits_on_one_day_are_two_visits(tmp_path):
    c = clean(tmp_path, visits=[
        visit(date="2023-09-05 10:05"),  # row 2
        visit(date="2023-09-05 19:30"),  # row 3: another attempt that evening
        visit(date="2023-09-05 19:30"),  # row 4: resent
    ])
    assert reasons(c, "visits/v.csv") == {4: "duplicate row"}


def test_resent_ledger_adding_a_time_is_a_duplicate(tmp_path):
    data = make_data(tmp_path / "data", visits=[visit(date="2023-09-05")])
    write(data, "visits", "w2.csv", [V_HEADER, visit(date="2023-09-05 13:52"), visit(date="2023-09-06 13:52")])
    c = clean_folder(data, Config())
    assert reasons(c, "visits/w2.csv") == {2: "duplicate row"}


def test_resent_ledger_that_gained_a_column_is_still_a_resend(tmp_path):
    data = make_data(tmp_path / "data", visits=[visit()])
    write(data, "visits", "w2.csv", [V_HEADER + ["备注"], visit() + ["补充说明"]])
    c = clean_folder(data, Config())
    assert reasons(c, "visits/w2.csv") == {2: "duplicate row"}


def test_duplicate_row_needs_an_earlier_valid_row(tmp_path):
    # a rejected row does not make its later copy a duplicate
    c = clean(tmp_path, visits=[visit(materials="两份"), visit(materials="两份"), visit(outcome="拒访"),
                                visit(outcome="拒访")])
    assert reasons(c, "visits/v.csv") == {2: "bad materials count", 3: "bad materials count", 5: "duplicate row"}


def test_cumulative_ledger_resent_in_a_second_file(tmp_path):
    data = make_data(tmp_path / "data", visits=[visit(), visit(address="3-2-502", outcome="不在家")])
    write(data, "visits", "w.csv", [V_HEADER, visit(), visit(address="3-2-502", outcome="不在家"),
                                    visit(date="2023-09-07", address="3-2-502")], encoding="gbk")
    c = clean_folder(data, Config())
    assert reasons(c, "visits/w.csv") == {2: "duplicate row", 3: "duplicate row"}
    assert c.visits[["file", "row"]].values.tolist() == [["visits/v.csv", 2], ["visits/v.csv", 3], ["visits/w.csv", 4]]


def test_community_from_config_without_registry_households(tmp_path):
    config = parse_config({"communities": ["丙社区"]}, "subdistrict.yml")
    c = clean(tmp_path, config=config, visits=[visit(community="丙社区"), visit(community="丁社区")])
    assert reasons(c, "visits/v.csv") == {2: "unknown household", 3: "unknown community"}
    assert c.communities == ["丙社区", "甲社区", "乙社区"]


def test_visit_split_address_columns(tmp_path):
    data = make_data(tmp_path / "data")
    header = ["日期", "社区", "楼号", "单元", "室", "结果"]
    write(data, "visits", "v.csv", [header,
          ["2023-09-05", "甲社区", "3号楼", "2单元", "501室", "已入户"],  # row 2
          ["2023-09-05", "甲社区", "5", "", "302", "已入户"],  # row 3: no unit
          ["2023-09-05", "甲社区", "3", "", "501", "已入户"],  # row 4: no unit: not 3-2-501
          ["2023-09-05", "甲社区", "3", "2", "", "已入户"],  # row 5
          ["2023-09-05", "甲社区", "3", "X单元", "501", "已入户"],  # row 6
          ])
    c = clean_folder(data, Config())
    assert reasons(c, "visits/v.csv") == {4: "unknown household", 5: "missing address", 6: "unparseable address"}


# --- priority of reasons --------------------------------------------------------------------------

@pytest.mark.parametrize("change,reason", [
    # every fault at once: the missing field wins
    (dict(outcome="", community="春光社区", date="2023-13-45", address="人民路1号", materials="两份"), "missing outcome"),
    (dict(date="", community="春光社区"), "missing date"),
    (dict(address="", date="bad"), "missing address"),
    # then unknown community …
    (dict(community="春光社区", date="2023-13-45", address="人民路1号", outcome="改天再来", materials="两份"),
     "unknown community"),
    # … bad date …
    (dict(date="2023-13-45", address="人民路1号", outcome="改天再来", materials="两份"), "bad date"),
    # … unparseable address …
    (dict(address="人民路1号", outcome="改天再来", materials="两份"), "unparseable address"),
    # … unknown household …
    (dict(address="9-9-909", outcome="改天再来", materials="两份"), "unknown household"),
    # … unknown outcome …
    (dict(outcome="改天再来", materials="两份"), "unknown outcome"),
    # … bad materials count
    (dict(materials="两份"), "bad materials count"),
])
def test_priority_order_of_visit_reasons(tmp_path, change, reason):
    c = clean(tmp_path, visits=[visit(**change)])
    assert reasons(c, "visits/v.csv") == {2: reason}


def test_priority_order_of_household_reasons(tmp_path):
    c = clean(tmp_path, households=[
        ["甲社区", "", "人民路1号", "待核实", "", ""],  # missing grid beats the rest
        ["甲社区", "1", "人民路1号", "待核实", "", ""],  # unparseable beats unknown occupancy
    ])
    assert reasons(c, "households/h.csv") == {2: "missing grid", 3: "unparseable address"}


def test_priority_order_of_issue_reasons(tmp_path):
    c = clean(tmp_path, issues=[
        ["", "春光社区", "", "", "", "暂缓", ""],  # row 2
        ["2023-09-05", "春光社区", "", "", "", "暂缓", ""],  # row 3
        ["2023-13-45", "甲社区", "", "", "", "暂缓", ""],  # row 4
        ["2023-09-05", "甲社区", "", "", "", "暂缓", ""],  # row 5
        ["2023-09-05", "甲社区", "", "", "", "", "2023-09-01"],  # row 6: blank status first
    ])
    assert reasons(c, "issues/i.csv") == {2: "missing raised", 3: "unknown community", 4: "bad date",
                                          5: "unknown status", 6: "missing status"}


def test_priority_order_of_survey_reasons(tmp_path):
    row = ["2023-09-05 10:00", "甲社区", "3-2-501", "知道", "", "", "", "", ""]
    c = clean(tmp_path, surveys=[
        ["", "春光社区", "人民路1号"] + row[3:],  # row 2
        [row[0], "", "人民路1号"] + row[3:],  # row 3
        [row[0], "春光社区", "人民路1号"] + row[3:],  # row 4
        ["2023-02-30", "甲社区", "人民路1号"] + row[3:],  # row 5
        [row[0], "甲社区", "人民路1号"] + row[3:],  # row 6
        [row[0], "甲社区", "9-9-909"] + row[3:],  # row 7
    ])
    assert reasons(c, "surveys/s.csv") == {2: "missing submitted_at", 3: "missing community", 4: "unknown community",
                                           5: "bad date", 6: "unparseable address", 7: "unknown household"}


# --- surveys ----------------------------------------------------------------------------------------

def survey(when="2023-09-05 10:00", community="甲社区", address="3-2-501", awareness="知道", support="支持",
           satisfaction="满意", participation="参与过", garbage="了解", comment=""):
    return [when, community, address, awareness, support, satisfaction, participation, garbage, comment]


def test_survey_answer_codes(tmp_path):
    c = clean(tmp_path, surveys=[
        survey(),  # all positive
        survey(awareness="不知道", support="不支持", satisfaction="一般", participation="否", garbage="不知道",
               address=""),  # all negative
        survey(awareness="(跳过)", support="(空)", satisfaction="", participation="（跳过）", garbage="", address=""),
        survey(awareness="知道吧", support="还行", satisfaction="满意吧", participation="参与", garbage="是",
               address=""),
        survey(awareness=" 是 ", support="非常支持", satisfaction="基本满意", participation="没参与过",
               garbage="清楚", address=""),
    ])
    s = c.surveys
    assert s["awareness"].tolist() == [1, 0, -1, -2, 1]
    assert s["support"].tolist() == [1, 0, -1, -2, 1]
    assert s["satisfaction"].tolist() == [1, 0, -1, -2, 1]
    assert s["participation"].tolist() == [1, 0, -1, 1, 0]
    assert s["garbage_sorting"].tolist() == [1, 0, -1, 1, 1]
    assert len(c.rejects) == 0  # an invalid answer keeps the row valid


AWARENESS_CASES = [
    ("知道", 1), ("知晓", 1), ("了解", 1), ("清楚", 1), ("是", 1),
    ("不知道", 0), ("不知晓", 0), ("不了解", 0), ("不清楚", 0), ("否", 0),
    ("不知道吧", -2), ("知道一点", -2), ("不确定", -2), ("还行", -2), ("支持", -2),
    ("(跳过)", -1), ("(空)", -1), ("（跳过）", -1), ("", -1),
]


def test_awareness_answers_are_exact_matches(tmp_path):
    # 1 positive, 0 negative, -1 unanswered, -2 invalid; `不知道` contains `知道` but is negative
    c = clean(tmp_path, surveys=[survey(awareness=a, address="") for a, _ in AWARENESS_CASES])
    assert c.surveys["awareness"].tolist() == [code for _, code in AWARENESS_CASES]


def test_invalid_answer_is_left_out_of_the_denominator(tmp_path):
    c = clean(tmp_path, surveys=[
        survey(address="", satisfaction="满意"), survey(address="", satisfaction="不满意"),
        survey(address="", satisfaction="还行"), survey(address="", satisfaction="(跳过)"),
        survey(address="", satisfaction="(空)"),
    ])
    m = compute_metrics(c, "2023-W36").set_index("community")
    # 满意 = positive, 不满意 = negative; 还行 invalid, (跳过)/(空) unanswered: 1 / (1 + 1)
    assert m.loc["甲社区", "satisfaction_n_cum"] == 2
    assert m.loc["甲社区", "satisfaction_rate_cum"] == pytest.approx(0.5)
    assert m.loc["甲社区", "returns_cum"] == 5


def test_extra_answers_from_config(tmp_path):
    config = parse_config({"answers": {"awareness": {"positive": ["晓得"], "negative": ["不晓得"]}}}, "s.yml")
    c = clean(tmp_path, config=config, surveys=[survey(awareness="晓得"), survey(awareness="不晓得", address="")])
    assert c.surveys["awareness"].tolist() == [1, 0]


def test_anonymous_returns(tmp_path):
    c = clean(tmp_path, surveys=[survey(address=""), survey(address="3-2-502")])
    assert c.surveys["anonymous"].tolist() == [True, False]
    assert c.surveys["key"].tolist() == ["", "甲社区|3|2|502"]


def test_survey_without_address_column_is_anonymous(tmp_path):
    data = make_data(tmp_path / "data")
    write(data, "surveys", "s.csv", [["填写时间", "社区", "您支持创城吗"], ["2023/9/5 10:00", "乙社区", "支持"]])
    c = clean_folder(data, Config())
    assert c.surveys[["anonymous", "support"]].values.tolist() == [[True, 1]]


def test_survey_with_split_address_columns(tmp_path):
    data = make_data(tmp_path / "data")
    header = ["提交时间", "社区", "楼号", "单元", "室", "您支持创城吗"]
    write(data, "surveys", "s.csv", [header,
          ["2023-09-05 10:00", "甲社区", "3号楼", "2单元", "501室", "支持"],  # row 2
          ["2023-09-05 10:00", "甲社区", "", "", "", "支持"],  # row 3: anonymous
          ["2023-09-05 10:00", "甲社区", "3", "2", "", "支持"],  # row 4: blank room
          ["2023-09-05 10:00", "甲社区", "", "2", "501", "支持"],  # row 5: blank building
          ["2023-09-05 10:00", "甲社区", "3", "2", "509", "支持"],  # row 6
          ])
    c = clean_folder(data, Config())
    assert c.surveys["key"].tolist() == ["甲社区|3|2|501", ""]
    # precise rules: with split address columns, a blank building or room is `missing address`
    assert reasons(c, "surveys/s.csv") == {4: "missing address", 5: "missing address", 6: "unknown household"}


def test_superseded_via_week_view(tmp_path):
    c = clean(tmp_path, surveys=[
        survey(when="2023-09-05 10:00", awareness="不知道"),  # row 2: superseded by row 3
        survey(when="2023-09-06 10:00", awareness="知道"),  # row 3
        survey(when="2023-09-07 10:00", address="3-2-502"),  # row 4: ties with row 5 …
        survey(when="2023-09-07 10:00", address="3号楼2单元502室", awareness="不知道"),  # row 5: … last in file order stands
        survey(when="2023-09-07 10:00", address=""),  # row 6: anonymous
        survey(when="2023-09-07 10:00", address=""),  # row 7: anonymous, never de-duplicated
        survey(when="2023-09-12 10:00", address="3-2-501", awareness="不知道"),  # row 8: W37
    ])
    assert len(c.rejects) == 0 and len(c.surveys) == 7  # superseding happens per report week
    w36 = week_view(c, "2023-W36")
    assert sorted(w36.surveys["row"]) == [3, 5, 6, 7]
    assert sorted(w36.superseded["row"]) == [2, 4]
    sup = w36.rejects[w36.rejects["reason"] == "superseded"]
    assert sorted(sup["row"]) == [2, 4] and set(sup["community"]) == {"甲社区"}
    w37 = week_view(c, "2023-W37")
    assert sorted(w37.surveys["row"]) == [5, 6, 7, 8]
    assert sorted(w37.superseded["row"]) == [2, 3, 4]
    w35 = week_view(c, "2023-W35")
    assert len(w35.surveys) == 0 and len(w35.superseded) == 0


def test_survey_tie_across_files_keeps_the_later_file(tmp_path):
    # Date-only returns are never taken for the same return (9.8): section 4's tie rule applies.
    data = make_data(tmp_path / "data", surveys=[survey(when="2023-09-05", awareness="知道")])
    write(data, "surveys", "t.csv", [S_HEADER, survey(when="2023-09-05", awareness="不知道")])
    c = clean_folder(data, Config())
    standing = week_view(c, "2023-W36").surveys
    assert standing[["file", "awareness"]].values.tolist() == [["surveys/t.csv", 0]]


def test_survey_de_dup_compares_full_timestamps(tmp_path):
    c = clean(tmp_path, surveys=[survey(when="2023-09-05 19:30", awareness="知道"),
                                 survey(when="2023-09-05 08:00", awareness="不知道")])
    standing = week_view(c, "2023-W36").surveys
    assert standing["row"].tolist() == [2]  # the later time stands although it comes first


# --- issues -------------------------------------------------------------------------------------------

def issue(raised="2023-09-05", community="甲社区", category="环境卫生", description="垃圾未清运", handling="社区解决",
          status="办理中", resolved=""):
    return [raised, community, category, description, handling, status, resolved]


def test_issue_values(tmp_path):
    c = clean(tmp_path, issues=[
        issue(status="已办结", resolved="2023-09-07"),  # row 2
        issue(status="已解决", resolved=""),  # row 3: resolved on its raised date
        issue(status="完成", resolved="2023-09-05", description="污水外溢"),  # row 4: resolved the same day
        issue(status="办理中", resolved="2023-09-01", category="绿化"),  # row 5: 办结日期 of an open issue ignored
        issue(status="未解决", resolved="不详", category="", handling="上报"),  # row 6: ignored as well
        issue(status="待处理", handling="已上报", category="噪音扰民"),  # row 7
        issue(status="已办结", resolved="2023-09-04"),  # row 8: before raised → bad date
        issue(status="已办结", resolved="明天"),  # row 9: unreadable 办结日期
        issue(status="暂缓"),  # row 10
        issue(status="已办结", resolved="2023/9/6 18:00", handling="物业处理", raised="2023年9月5日"),  # row 11
    ])
    assert reasons(c, "issues/i.csv") == {8: "bad date", 9: "bad date", 10: "unknown status"}
    assert fields(c, "issues/i.csv") == {8: "resolved", 9: "resolved", 10: "status"}
    i = c.issues
    assert i["row"].tolist() == [2, 3, 4, 5, 6, 7, 11]
    assert i["status"].tolist() == ["resolved", "resolved", "resolved", "open", "open", "open", "resolved"]
    assert [None if pd.isna(x) else x.date().isoformat() for x in i["resolved"]] == [
        "2023-09-07", "2023-09-05", "2023-09-05", None, None, None, "2023-09-06"]
    assert i["category"].tolist() == ["环境卫生", "环境卫生", "环境卫生", "其他", "其他", "噪音扰民", "环境卫生"]
    assert i["handling"].tolist() == ["local", "local", "local", "local", "escalated", "escalated", "unknown"]


def test_configured_issue_categories(tmp_path):
    config = parse_config({"issue_categories": ["绿化", "物业管理"]}, "s.yml")
    c = clean(tmp_path, config=config, issues=[issue(category="绿化"), issue(category="环境卫生", description="x")])
    assert c.issues["category"].tolist() == ["绿化", "其他"]


def test_issue_duplicate_row(tmp_path):
    c = clean(tmp_path, issues=[issue(), issue(description="别的问题"), issue(), issue(raised="2023/9/5")])
    assert reasons(c, "issues/i.csv") == {4: "duplicate row", 5: "duplicate row"}


def test_issue_address_need_not_match(tmp_path):
    data = make_data(tmp_path / "data")
    write(data, "issues", "i.csv", [I_HEADER + ["地址"], issue() + ["人民路12号"], issue(description="x") + ["9-9-999"]])
    c = clean_folder(data, Config())
    assert len(c.rejects) == 0 and c.issues["address"].tolist() == ["人民路12号", "9-9-999"]


# --- values are normalised --------------------------------------------------------------------------------

def test_values_are_nfkc_normalised_and_trimmed(tmp_path):
    c = clean(tmp_path, visits=[[" ２０２３－０９－０５ ", " 甲社区 ", "３－２－５０１", "　已入户　", "２份", ""]])
    assert len(c.rejects) == 0
    assert c.visits[["community", "key", "outcome", "materials"]].values.tolist() == [
        ["甲社区", "甲社区|3|2|501", "entered", 2]]


# --- rejects carry the raw row -----------------------------------------------------------------------------

def test_rejects_carry_file_row_and_raw_values(tmp_path):
    c = clean(tmp_path, visits=[visit(), visit(outcome="改天再来", address="３－２－５０１")])
    r = c.rejects.iloc[0]
    assert (r["file"], r["row"], r["community"], r["reason"], r["说明"]) == (
        "visits/v.csv", 3, "甲社区", "unknown outcome", "走访结果无法识别")
    assert json.loads(r["raw"]) == dict(zip(V_HEADER, ["2023-09-05", "甲社区", "３－２－５０１", "改天再来", "1", "张三"]))


# --- rows dated after W are invisible to W's rejects --------------------------------------------------------

def test_week_view_rejects(tmp_path):
    c = clean(tmp_path, households=REGISTRY + [["甲社区", "1", "3-2-501", "常住", "", ""]],  # registry reject
              visits=[visit(date="2023-09-20", outcome="改天再来"),  # after W36: invisible
                      visit(date="2023-09-05", outcome="改天再来"),  # in W36
                      visit(date="2023-13-45"),  # unreadable date: always visible
                      visit(date=""),  # missing date: always visible
                      visit(date="2023-09-20", community="春光社区")])  # after W36
    rows = week_view(c, "2023-W36").rejects[["file", "row"]].values.tolist()
    assert sorted(map(tuple, rows)) == [("households/h.csv", 8), ("visits/v.csv", 3), ("visits/v.csv", 4),
                                        ("visits/v.csv", 5)]
    assert len(week_view(c, "2023-W38").rejects) == 6


# --- row accounting -------------------------------------------------------------------------------------------

def test_sample_rows_are_all_accounted_for(sample_cleaned):
    assert_rows_accounted(sample_cleaned)
    assert sum(r.data_rows for r in sample_cleaned.files) > 10000
    assert len(sample_cleaned.rejects) > 0
    # every reject has a reason code and its plain-Chinese wording
    assert (sample_cleaned.rejects["reason"] != "").all()
    assert sample_cleaned.rejects["说明"].notna().all()


def test_fixture_rows_are_all_accounted_for(tmp_path):
    data = make_data(tmp_path / "data", households=REGISTRY + [["甲社区", "", "1-1-1", "", "", ""], [""] * 6],
                     visits=[visit(), visit(), visit(outcome="x"), [""] * 6, visit(date="bad")],
                     surveys=[survey(), survey(), survey(address="?"), survey(community="")],
                     issues=[issue(), issue(), issue(status="?"), [""] * 7])
    write(data, "visits", "w.csv", [["甲社区走访记录"], ["", ""], V_HEADER, visit(date="2023-09-09"), visit()])
    c = clean_folder(data, Config())
    assert_rows_accounted(c)
    by_file = {r.file: (r.data_rows, r.blank_rows, r.header_row) for r in c.files}
    assert by_file == {"households/h.csv": (7, 1, 1), "visits/v.csv": (4, 1, 1), "visits/w.csv": (2, 0, 3),
                       "surveys/s.csv": (4, 0, 1), "issues/i.csv": (3, 1, 1)}
    assert reasons(c, "visits/w.csv") == {5: "duplicate row"}  # a copy of visits/v.csv row 2


# Cells for the property test: valid and invalid values of each visits column.
CELL_POOLS = {
    "走访日期": ["2023-09-05", "2023/9/6 10:30", "45175", "2023年9月7日", "", "2023-13-45", "九月五日", " "],
    "社区": ["甲社区", "乙社区", "", "春光社区", "甲"],
    "地址": ["3-2-501", "3号楼2单元502室", "5-302", "1-1-101", "1-1-102", "", "人民路12号3-2-501", "9-9-999",
           "甲社区3-2-601"],
    "走访结果": ["已入户", "不在家", "微信", "拒访", "", "改天再来"],
    "发放材料": ["", "1", "2份", "2.0", "两份", "-1"],
    "走访人": ["", "张三", "李四"],
}
SURVEY_POOLS = [
    ["2023-09-05 10:00", "2023-09-05 10:00", "45174.8125", "", "2023-02-30"],
    ["甲社区", "乙社区", "", "春光社区"],
    ["", "3-2-501", "1-1-101", "9-9-999", "人民路1号", "3号楼"],
    ["知道", "不知道", "(跳过)", "还行", ""],
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(visit_rows=st.lists(st.tuples(*(st.sampled_from(p) for p in CELL_POOLS.values())), max_size=25),
       survey_rows=st.lists(st.tuples(*(st.sampled_from(p) for p in SURVEY_POOLS)), max_size=15),
       titles=st.integers(0, 2), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]))
def test_property_every_data_row_is_clean_or_rejected_exactly_once(visit_rows, survey_rows, titles, encoding):
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(Path(tmp) / "data")
        title_rows = [["甲社区入户走访记录"]] * titles
        write(data, "visits", "v.csv", [*title_rows, list(CELL_POOLS), *map(list, visit_rows)], encoding=encoding)
        write(data, "surveys", "s.csv", [["提交时间", "社区", "住址", "您知道创城吗"], *map(list, survey_rows)])
        c = clean_folder(data, Config())
    assert_rows_accounted(c)
    # expected data rows, computed from what was written: Excel row = titles + header + position
    expected = {titles + 2 + i for i, r in enumerate(visit_rows) if any(v.strip() for v in r)}
    got_clean = set(c.visits.loc[c.visits["file"] == "visits/v.csv", "row"])
    got_rej = set(c.rejects.loc[c.rejects["file"] == "visits/v.csv", "row"])
    assert got_clean | got_rej == expected and not got_clean & got_rej
    rec = {r.file: r for r in c.files}
    assert rec["visits/v.csv"].data_rows == len(expected)
    assert rec["visits/v.csv"].blank_rows == len(visit_rows) - len(expected)
    s_expected = {2 + i for i, r in enumerate(survey_rows) if any(v.strip() for v in r)}
    s_got = set(c.surveys["row"]) | set(c.rejects.loc[c.rejects["file"] == "surveys/s.csv", "row"])
    assert s_got == s_expected
    # superseded returns come only from clean returns, never from rejected ones
    for week in ("2023-W36",):
        view = week_view(c, week)
        assert len(view.surveys) + len(view.superseded) == int((c.surveys["date"] <= pd.Timestamp("2023-09-10")).sum())


def test_survey_whose_community_column_only_matches_keyword_rule_8(tmp_path):
    # Rule 8 (header contains 社区) must be usable: the header row is found although only one
    # cell (提交答卷时间) is an exact alias of a required field.
    data = make_data(tmp_path / "data")
    write(data, "surveys", "wjx.csv", [["序号", "提交答卷时间", "1、请选择您居住的社区：", "2、您知道我市正在创建文明城市吗？"],
                                       ["1", "2023/9/5 19:30:12", "甲社区", "知道"],
                                       ["2", "2023/9/6 08:00:00", "春光社区", "知道"]])
    c = clean_folder(data, Config())
    rec = {r.file: r for r in c.files}["surveys/wjx.csv"]
    assert rec.header_row == 1 and rec.data_rows == 2
    assert c.surveys[["community", "awareness"]].values.tolist() == [["甲社区", 1]]
    assert reasons(c, "surveys/wjx.csv") == {3: "unknown community"}


def test_title_row_naming_the_community_is_not_taken_for_the_header(tmp_path):
    data = make_data(tmp_path / "data")
    write(data, "surveys", "s.csv", [["甲社区创城问卷", "", ""], ["提交时间", "社区", "您知道创城吗"],
                                     ["2023-09-05 10:00", "甲社区", "知道"]])
    c = clean_folder(data, Config())
    assert {r.file: r for r in c.files}["surveys/s.csv"].header_row == 2
    assert c.surveys["row"].tolist() == [3]


def test_out_of_range_dates_are_bad_dates(tmp_path):
    c = clean(tmp_path, visits=[visit(date="9999-12-31"), visit(date="0000-01-01"), visit()],
              issues=[issue(status="已办结", resolved="9999-12-31")])
    assert reasons(c, "visits/v.csv") == {2: "bad date", 3: "bad date"}
    assert reasons(c, "issues/i.csv") == {2: "bad date"}


def test_raw_cells_built_in_arrow_are_the_json_staff_get(tmp_path):
    """clean.raw_json spells a row's cells as json.dumps(..., ensure_ascii=False) would."""
    import numpy as np

    from canvass.ingest.clean import _raw_column, raw_json

    headers = ["社区", " ", "社区", '问"题\\', "说明"]  # a blank header, a repeated one, quote and backslash
    cells = [["甲社区", "a\tb", "乙社区", 'say "hi" \\ ok', "一\n二\x01"], ["", "", "", "", ""]]
    first = r'{"社区": "乙社区", "列2": "a\tb", "问\"题\\": "say \"hi\" \\ ok", "说明": "一\n二\u0001"}'
    blank = '{"社区": "", "列2": "", "问\\"题\\\\": "", "说明": ""}'
    assert json.loads(first) == {"社区": "乙社区", "列2": "a\tb", '问"题\\': 'say "hi" \\ ok', "说明": "一\n二\x01"}
    for dtype in (object, "str"):  # workbook cells are Python strings, CSV cells Arrow strings
        body = pd.DataFrame(cells, dtype=dtype)
        body.attrs["first_excel_row"] = 2
        assert raw_json(headers, body, np.array([1, 0])).to_pylist() == [blank, first]
        # rows not wanted are "", rows of each file's run get their own file's cells
        col = _raw_column(np.array(["f", "f", "g", "f"]), np.array([2, 3, 3, 2]), np.array([True, False, True, True]),
                          {"f": (headers, body), "g": (headers, body)}, pd.RangeIndex(4))
        assert col.tolist() == [first, "", blank, first]
