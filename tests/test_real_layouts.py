"""Real exports (data contract section 9): community of a row, grids, bookkeeping, answers, codes,
scores, column choice by answers, duplicate downloads and --check's exit codes.

Every expected number is counted by hand from the rows written in the test.
"""

from __future__ import annotations

import pandas as pd
import pytest

from canvass.cli import main
from canvass.config import Config, parse_config
from canvass.errors import InputError
from canvass.ingest.answers import duration_seconds, glob_match, read_column
from canvass.ingest.clean import clean_folder
from canvass.ingest.reading import _derive_registry_community
from canvass.metrics import compute_metrics

from .test_clean import (
    HH_HEADER,
    REGISTRY,
    V_HEADER,
    assert_rows_accounted,
    make_data,
    reasons,
    visit,
    write,
)

WJX = ["序号", "提交答卷时间", "所用时间", "来源", "来自IP", "1、您是否知道我市正在创建全国文明城市？",
       "2、您对社区创城工作满意吗？", "3、您对哪些方面不满意？", "4、您的住址"]


def wjx_row(n, when, awareness, satisfaction, unhappy="环境┋停车", address="3-2-501", ip="1.2.3.4(浙江-杭州)", secs="95秒"):
    return [str(n), when, secs, "手机提交", ip, awareness, satisfaction, unhappy, address]


def cfg(**raw) -> Config:
    return parse_config(raw, "subdistrict.yml")


def pooled(cleaned, week="2023-W36"):
    m = compute_metrics(cleaned, week)
    return m[m["scope"] == "subdistrict"].iloc[0], m[m["scope"] == "community"].set_index("community")


# --- 9.1 the community of a row -------------------------------------------------------------

def test_survey_without_community_column_takes_it_from_the_file_name(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "surveys", "问卷星_甲社区_创城问卷.csv", [WJX, wjx_row(1, "2023-09-05 10:00:00", "A.知道", "B.满意")])
    c = clean_folder(data, Config())
    assert c.surveys["community"].tolist() == ["甲社区"]
    rec = next(f for f in c.files if f.kind == "surveys")
    assert (rec.community, rec.community_source) == ("甲社区", "file name")


def test_files_glob_beats_the_file_name_and_a_column_beats_both(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "surveys", "2151_甲社区.csv", [WJX, wjx_row(1, "2023-09-05 10:00:00", "知道", "满意")])
    c = clean_folder(data, cfg(files={"surveys/2151*.csv": "乙社区"}))
    assert c.surveys["community"].tolist() == []  # 3-2-501 is not a 乙社区 household
    assert reasons(c, "surveys/2151_甲社区.csv") == {2: "unknown household"}
    write(data, "surveys", "2151_甲社区.csv", [["社区"] + WJX, ["甲社区"] + wjx_row(1, "2023-09-05 10:00:00", "知道", "满意"),
                                                ["", *wjx_row(2, "2023-09-05 11:00:00", "知道", "满意", address="")]])
    c = clean_folder(data, cfg(files={"surveys/2151*.csv": "乙社区"}))
    # the row's own cell wins; a blank cell falls through to files:
    assert c.surveys["community"].tolist() == ["甲社区", "乙社区"]


def test_longest_community_name_in_the_path_wins(tmp_path):
    reg = [["东湖社区", "1", "1-1-101", "", "", ""], ["湖社区", "1", "1-1-101", "", "", ""]]
    data = make_data(tmp_path / "d", households=reg)
    write(data, "visits", "第36周/东湖社区.csv", [["走访日期", "地址", "走访结果"], ["2023-09-05", "1-1-101", "已入户"]])
    c = clean_folder(data, Config())
    assert c.visits["community"].tolist() == ["东湖社区"]


def test_file_without_any_way_to_its_community_is_an_error_naming_the_three_ways(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "surveys", "download.csv", [WJX, wjx_row(1, "2023-09-05 10:00:00", "知道", "满意")])
    with pytest.raises(InputError) as info:
        clean_folder(data, Config())
    msg = str(info.value)
    assert "surveys/download.csv" in msg and "files:" in msg and "社区" in msg and "文件名" in msg


@pytest.mark.parametrize("name,subdistrict,expected", [
    ("七一社区住户台账.xlsx", "街道", "七一社区"),
    ("2023年9月_修竹社区台账.xlsx", "街道", "修竹社区"),
    ("光明新村社区台账.xlsx", "街道", "光明新村社区"),
    ("人民路街道海港社区.xlsx", "人民路街道", "海港社区"),
    ("20230905-东山村住户.csv", "街道", "东山村"),
    ("住户台账.xlsx", "街道", None),
])
def test_registry_file_name_names_its_community(name, subdistrict, expected):
    assert _derive_registry_community(f"households/{name}", Config(name=subdistrict)) == expected


def test_one_community_ledger_without_community_or_grid(tmp_path):
    data = make_data(tmp_path / "d")
    ledger = [["光明新村社区住户台账"], ["2023年9月"], ["楼栋号", "单元号", "房间号", "户主", "联系电话"],
              ["1", "1", "101", "王一", ""], ["1", "1", "102", "王二", ""], ["7", "2", "201", "王三", ""]]
    write(data, "households", "光明新村社区住户台账.csv", ledger)
    c = clean_folder(data, cfg(grids={"光明新村社区": {"第1网格": ["1-5"]}}))
    g = c.households[c.households["community"] == "光明新村社区"]
    assert g["grid_label"].tolist() == ["第1网格", "第1网格", "未分网格"]
    assert g["row"].tolist() == [4, 5, 6]  # the title and date lines keep their Excel rows
    rec = next(f for f in c.files if f.file.endswith("光明新村社区住户台账.csv"))
    assert rec.unassigned_grid == 1 and rec.header_row == 3


# --- 9.3 aliases, per-header values ------------------------------------------------------------

def test_shi_fou_ru_hu_and_shi_fou_ban_jie(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "visits", "v.csv", [["走访日期", "社区", "地址", "是否入户"], ["2023-09-05", "甲社区", "3-2-501", "是"],
                                    ["2023-09-05", "甲社区", "3-2-502", "否"], ["2023-09-05", "甲社区", "5-302", "已入户"]])
    write(data, "issues", "i.csv", [["登记时间", "社区", "是否办结", "办结时间"], ["2023-09-04 09:00", "甲社区", "是", "2023-09-06"],
                                    ["2023-09-04", "甲社区", "否", ""]])
    c = clean_folder(data, Config())
    assert c.visits["outcome"].tolist() == ["entered", "not_home", "entered"]
    assert c.issues["status"].tolist() == ["resolved", "open"]


def test_room_alias_fang_jian():
    from canvass.ingest.headers import map_columns
    from canvass.ingest.kinds import HOUSEHOLDS
    cmap = map_columns(["社区", "网格", "楼栋号", "单元号", "房间"], HOUSEHOLDS, {}, "h.csv")
    assert cmap.split_address and cmap.fields["room"] == 4


# --- 9.6 / 9.7 answers -----------------------------------------------------------------------

@pytest.mark.parametrize("cell,code", [
    ("A.知道", 1), ("B、不知道", 0), ("(C)不了解", 0), ("1.知道", 1), ("知道〖其他说明〗", 1), ("【必答】知道", 1),
    ("知道┋不知道", -2), ("不确定", -2), ("", -1), ("(跳过)", -1),
])
def test_answer_text_forms(cell, code):
    codes, _ = read_column(pd.Series([cell, "知道"]), "awareness", "h", "s.csv", Config())
    assert int(codes[0]) == code


def test_coded_column_needs_codes_else_left_out_and_reported():
    values = pd.Series(["1", "2", "1", "-3", ""])
    codes, reading = read_column(values, "awareness", "h", "surveys/x.csv", Config())
    assert reading.coding == "coded" and not reading.decoded and reading.values_seen == ["1", "2"]
    assert codes.tolist() == [-3, -3, -3, -1, -1]
    codes, reading = read_column(values, "awareness", "h", "surveys/x.csv", cfg(codes={"awareness": {1: "positive", 2: "negative"}}))
    assert codes.tolist() == [1, 0, 1, -1, -1] and reading.decoded


def test_codes_per_file_glob_win_over_the_plain_form():
    config = cfg(codes={"awareness": {1: "positive", 2: "negative"}, "surveys/腾讯_*.csv": {"awareness": {1: "negative", 2: "positive"}}})
    codes, _ = read_column(pd.Series(["1", "2", "3"]), "awareness", "h", "surveys/腾讯_甲.csv", config)
    assert codes.tolist() == [0, 1, -2]  # 3 is not listed: invalid
    codes, _ = read_column(pd.Series(["1", "2"]), "awareness", "h", "surveys/other.csv", config)
    assert codes.tolist() == [1, 0]


def test_scores_decoded_by_scales():
    config = cfg(scales={"satisfaction": {"positive_from": 8, "max": 10}})
    codes, reading = read_column(pd.Series(["8分", "7 分", "10", "11", "9星", "满意"]), "satisfaction", "h", "s.csv", config)
    assert codes.tolist() == [1, 0, 1, -2, 1, 1]
    codes, reading = read_column(pd.Series(["8", "3"]), "satisfaction", "h", "s.csv", config)
    assert reading.coding == "scored" and codes.tolist() == [1, 0]


def test_a_score_column_with_stray_text_keeps_its_scores():
    """9.5: scores that scales: decodes count as recognised, so one unreadable cell does not
    drop a column of scores (4 of 5 recognised here); -3 among scores is unanswered (9.7)."""
    config = cfg(scales={"satisfaction": {"positive_from": 8, "max": 10}})
    codes, reading = read_column(pd.Series(["9", "8", "10", "6", "不清楚"]), "satisfaction", "h", "s.csv", config)
    assert reading.coding == "text" and codes.tolist() == [1, 1, 1, 0, -2]
    assert (reading.recognised, reading.non_blank, reading.share) == (4, 5, 0.8)
    codes, reading = read_column(pd.Series(["9", "7分", "-3", "10", "11"]), "satisfaction", "h", "s.csv", config)
    assert codes.tolist() == [1, 0, -1, 1, -2] and reading.share == 0.8  # 11 is above max: invalid
    # Without scales: the scores are numeric cells, judged on the rest: one unknown word → 0.
    _, reading = read_column(pd.Series(["9", "8", "不清楚"]), "satisfaction", "h", "s.csv", Config())
    assert reading.share == 0.0 and not reading.decoded
    _, reading = read_column(pd.Series(["9", "8分"]), "satisfaction", "h", "s.csv", Config())
    assert reading.share == 1.0 and not reading.decoded  # numbers only: still the field's column


def test_a_score_column_with_stray_text_counts_in_the_rate(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "surveys", "甲社区.csv", [["提交时间", "社区", "您对社区创城工作是否满意"],
                                          ["2023-09-05 10:00", "甲社区", "9"], ["2023-09-05 11:00", "甲社区", "8"],
                                          ["2023-09-05 12:00", "甲社区", "10"], ["2023-09-05 13:00", "甲社区", "6"],
                                          ["2023-09-05 14:00", "甲社区", "不清楚"]])
    c = clean_folder(data, cfg(scales={"satisfaction": {"positive_from": 8, "max": 10}}))
    rec = next(f for f in c.files if f.kind == "surveys")
    assert rec.columns.get("satisfaction") == "您对社区创城工作是否满意" and rec.notes == []
    p, _ = pooled(c)
    assert p["satisfaction_n_cum"] == 4 and p["satisfaction_rate_cum"] == pytest.approx(3 / 4)  # 9, 8, 10 of 4


def test_glob_rules():
    assert glob_match("surveys/问卷星_2151*.xls", "surveys/问卷星_2151_七一.xls")
    assert not glob_match("surveys/*.xls", "surveys/第36周/a.xls")
    assert glob_match("surveys/**/*.xls", "surveys/第36周/a.xls")


def test_durations():
    assert duration_seconds(pd.Series(["123秒", "2分3秒", "00:02:03", "123", "", "x"])).tolist()[:4] == [123, 123, 123, 123]


# --- 9.5 choosing question columns by their answers -------------------------------------------

def test_distractor_with_satisfaction_keyword_is_ignored_and_the_rate_counts(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "surveys", "甲社区.csv", [WJX,
                                          wjx_row(1, "2023-09-05 10:00:00", "A.知道", "A.满意"),
                                          wjx_row(2, "2023-09-05 11:00:00", "B.不知道", "C.不满意", address="3-2-502"),
                                          wjx_row(3, "2023-09-05 12:00:00", "A.知道", "A.满意〖很好〗", address="")])
    c = clean_folder(data, Config())
    rec = next(f for f in c.files if f.kind == "surveys")
    assert rec.columns["satisfaction"] == "2、您对社区创城工作满意吗？"
    assert {"field": "satisfaction", "header": "3、您对哪些方面不满意？", "why": "looks_like"} in rec.notes
    assert rec.columns["address"] == "4、您的住址" and rec.columns["client"] == "来自IP"
    p, _ = pooled(c)
    # awareness: 知道, 不知道, 知道 → 2/3; satisfaction: 满意, 不满意, 满意 → 2/3
    assert (p["awareness_n_cum"], p["satisfaction_n_cum"]) == (3, 3)
    assert p["satisfaction_rate_cum"] == pytest.approx(2 / 3)
    assert c.surveys["client"].tolist() == ["1.2.3.4"] * 3 and c.surveys["duration"].tolist() == [95.0] * 3


# --- 9.8 the same return twice ---------------------------------------------------------------

def test_text_and_coded_downloads_of_one_survey_count_once(tmp_path):
    data = make_data(tmp_path / "d")
    text = [WJX[:6], ["1", "2023-09-05 10:00:00", "95秒", "手机提交", "1.2.3.4", "A.知道"],
            ["2", "2023-09-05 10:05:00", "80秒", "手机提交", "5.6.7.8", "B.不知道"]]
    coded = [WJX[:6], ["1", "2023-09-05 10:00:00", "95秒", "手机提交", "1.2.3.4", "1"],
             ["2", "2023-09-05 10:05:00", "80秒", "手机提交", "5.6.7.8", "2"],
             ["3", "2023-09-05 10:09:00", "60秒", "手机提交", "9.9.9.9", "1"]]
    write(data, "surveys", "a_甲社区_序号.csv", coded)  # sorts first, but it is the coded copy
    write(data, "surveys", "b_甲社区_文本.csv", text)
    c = clean_folder(data, cfg(codes={"awareness": {1: "positive", 2: "negative"}}))
    assert reasons(c, "surveys/a_甲社区_序号.csv") == {2: "duplicate return", 3: "duplicate return"}
    assert reasons(c, "surveys/b_甲社区_文本.csv") == {}
    p, _ = pooled(c)
    assert (p["returns_cum"], p["awareness_n_cum"], p["awareness_rate_cum"]) == (3, 3, pytest.approx(2 / 3))
    assert_rows_accounted(c)


def test_a_file_sent_twice_is_a_duplicate_download(tmp_path):
    data = make_data(tmp_path / "d")
    rows = [WJX, wjx_row(1, "2023-09-05 10:00:00", "知道", "满意")]
    write(data, "surveys", "甲社区_1.csv", rows)
    write(data, "surveys", "甲社区_2.csv", rows)
    c = clean_folder(data, Config())
    rec = next(f for f in c.files if f.file == "surveys/甲社区_2.csv")
    assert rec.duplicate_of == "surveys/甲社区_1.csv" and rec.readings == []


def test_date_only_returns_without_sheet_id_are_never_the_same_return(tmp_path):
    data = make_data(tmp_path / "d")
    head = ["提交时间", "社区", "您知道我市正在创建全国文明城市吗"]
    write(data, "surveys", "a.csv", [head, ["2023-09-05", "甲社区", "知道"]])
    write(data, "surveys", "b.csv", [head, ["2023-09-05", "甲社区", "知道"]])
    c = clean_folder(data, Config())
    assert len(c.surveys) == 2


# --- 9.6 blank markers, 9.9 --check -----------------------------------------------------------

def test_null_submitted_at_is_missing_not_bad_date(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "surveys", "甲社区.csv", [WJX, wjx_row(1, "NULL", "知道", "满意")])
    c = clean_folder(data, Config())
    assert reasons(c, "surveys/甲社区.csv") == {2: "missing submitted_at"}


def test_check_exit_codes(tmp_path, capsys):
    data = make_data(tmp_path / "d", visits=[visit()])
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 0
    write(data, "surveys", "甲社区.csv", [WJX[:6], ["1", "2023-09-05 10:00:00", "95秒", "x", "1.2.3.4", "1"]])
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 1
    out = capsys.readouterr().out
    assert "codes:" in out and '"surveys/甲社区.csv": {awareness: {1: positive}}' in out
    (data / "subdistrict.yml").write_text("codes: {awareness: {1: positive, 2: negative}}\n", encoding="utf-8")
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 0
    write(data, "visits", "v2.csv", [V_HEADER, visit(address="9-9-999")])  # every row rejected
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 1
    write(data, "visits", "v2.csv", [V_HEADER, visit()])
    write(data, "households", "h2.csv", [["社区", "楼号", "室"], ["甲社区", "8", "101"]])  # no grid column
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 1
    assert "未分网格" in capsys.readouterr().out
    bad = tmp_path / "bad"
    make_data(bad)
    write(bad, "surveys", "nameless.csv", [WJX, wjx_row(1, "2023-09-05 10:00:00", "知道", "满意")])
    assert main(["--check", "--data", str(bad)]) == 2


def test_check_names_what_the_folder_holds_but_is_not_read(tmp_path, capsys):
    """9.9 never silent: files in other formats, files: lines matching nothing and a survey with
    no question column each get a warning (exit 1); before, each passed as 所有文件都已读懂."""
    data = make_data(tmp_path / "d", visits=[visit()])
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 0
    capsys.readouterr()
    (data / "households" / "乙社区台账.et").write_bytes(b"WPS")
    (data / "visits" / "走访.txt").write_text("走访日期\t社区", encoding="utf-8")
    (data / "visits" / "~$v.xlsx").write_bytes(b"lock")  # Excel's lock file: not a warning
    (data / "subdistrict.yml").write_text('files: {"surveys\\\\甲.csv": 甲社区, "surveys/甲.csv": 甲社区}\n', encoding="utf-8")
    write(data, "surveys", "甲.csv", [["提交时间", "社区", "第1题", "第2题"], ["2023-09-05 10:00", "甲社区", "A", "B"],
                                      ["2023-09-05 11:00", "甲社区", "A", "C"]])
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 1
    out = capsys.readouterr().out
    assert "需要处理的问题 4 个" in out, out
    assert "households/乙社区台账.et：WPS 表格文件，已跳过" in out and "另存为 .xlsx" in out
    assert "visits/走访.txt：文本文件，已跳过" in out and "改为 .csv" in out and "~$v.xlsx" not in out
    assert "“surveys\\甲.csv”没有匹配任何文件" in out and "用 / 分隔" in out
    assert "surveys/甲.csv：没有一列被认作问卷题目" in out and "这 2 份问卷只计入问卷数" in out
    assert 'columns: {satisfaction: "第1题"}' in out


def test_a_visits_ledger_in_surveys_is_named_as_one(tmp_path, capsys):
    """A visits file in surveys/ reads as a survey without questions; the warning says which folder it is for."""
    data = make_data(tmp_path / "d", visits=[visit()])
    write(data, "surveys", "甲社区走访.csv", [["日期", "社区", "地址", "走访结果", "发放材料", "走访人"],
                                            ["2023-09-05", "甲社区", "1-1-101", "已入户", "2", "王"]])
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 1
    out = capsys.readouterr().out
    assert "surveys/甲社区走访.csv：没有一列被认作问卷题目" in out
    assert "这个文件的表头像是入户走访记录，是否放错了文件夹？请移到 visits/ 文件夹" in out
    assert "columns: {satisfaction:" not in out  # no advice to read a visit column as a question


def test_a_batch_says_how_many_input_problems_check_would_list(tmp_path, capsys, inline_workers):
    data = make_data(tmp_path / "d", visits=[visit()])
    (data / "visits" / "走访.numbers").write_bytes(b"x")
    assert main(["--data", str(data), "--out", str(tmp_path / "out"), "--week", "2023-W36", "--jobs", "1"]) == 0
    assert "输入文件有 1 个需要处理的问题" in capsys.readouterr().out
    import json
    manifest = json.loads((tmp_path / "out" / "2023-W36" / "manifest.json").read_text(encoding="utf-8"))
    assert [w["file"] for w in manifest["warnings"]] == ["visits/走访.numbers"]


def test_unknown_config_values_name_the_key():
    with pytest.raises(Exception, match="credibility.min_seconds"):
        cfg(credibility={"min_seconds": -1})
    with pytest.raises(Exception, match="scales.satisfaction"):
        cfg(scales={"satisfaction": {"positive_from": 8}})
    assert cfg(grids={"甲社区": {"第1网格": ["1-3", 5]}}).grids == {"甲社区": {"第1网格": ("1", "2", "3", "5")}}


def test_registry_rows_accounted_with_real_layouts(tmp_path):
    data = make_data(tmp_path / "d", households=[HH_HEADER] and REGISTRY)
    write(data, "households", "乙社区台账.csv", [["楼号", "单元", "室"], ["9", "1", "101"], ["", "", ""], ["x", "1", "1"]])
    c = clean_folder(data, Config())
    assert reasons(c, "households/乙社区台账.csv") == {4: "unparseable address"}
    assert_rows_accounted(c)


def test_fix_workbook_lists_rejected_rows_with_their_cells_and_missing_addresses(tmp_path):
    from openpyxl import load_workbook

    from canvass.run.batch import write_rejects

    data = make_data(tmp_path / "d", visits=[visit(), visit(address="9-9-901"), visit(outcome="???"), visit(), visit()],
                     issues=[["2023-09-05", "甲社区", "环境卫生", "路灯坏了", "上报", "不知道", ""]])
    c = clean_folder(data, Config())
    n = write_rejects(c, "2023-W36", tmp_path / "rejects.csv", tmp_path / "fix", {"甲社区": "jia", "乙社区": "yi"})
    assert n == 5  # rejects.csv: every rejected row, the two repeats too
    wb = load_workbook(tmp_path / "fix" / "jia.xlsx")
    assert wb.sheetnames == ["待更正-入户走访记录", "待更正-问题清单", "无需更正", "台账缺少的地址"]
    rows = list(wb["待更正-入户走访记录"].values)
    assert rows[0][:3] == ("文件", "行号", "原因") and "走访结果" in rows[0] and "办理状态" not in rows[0]
    assert [r[:3] for r in rows[1:]] == [("visits/v.csv", 3, "地址在住户台账中不存在"), ("visits/v.csv", 4, "走访结果无法识别")]
    issues = list(wb["待更正-问题清单"].values)
    assert [r[:3] for r in issues[1:]] == [("issues/i.csv", 2, "办理状态无法识别")] and "走访结果" not in issues[0]
    # Rows 5 and 6 repeat row 2: counted, not listed for correcting.
    assert list(wb["无需更正"].values)[1:] == [("visits/v.csv", "与前面的记录完全重复（重复报送）", 2, "5, 6")]
    assert list(wb["台账缺少的地址"].values)[1] == ("9-9-901", "visits/v.csv", 1)
    empty = load_workbook(tmp_path / "fix" / "yi.xlsx")
    assert list(empty["待更正记录"].values)[1][0] == "本周没有需要更正的记录"


def test_init_config_writes_a_starter_that_check_then_accepts_once_filled(tmp_path, capsys):
    data = make_data(tmp_path / "d", visits=[visit()])
    write(data, "households", "丙社区台账.csv", [["楼号", "单元", "室"], ["7", "1", "101"], ["8", "1", "101"]])
    write(data, "surveys", "download.csv", [WJX[:6], ["1", "2023-09-05 10:00:00", "95秒", "x", "1.2.3.4", "1"]])
    assert main(["--init-config", "--data", str(data)]) == 0
    text = (data / "subdistrict.yml").read_text(encoding="utf-8")
    assert '"surveys/download.csv": 待填写' in text
    assert "丙社区: {第1网格: [7, 8]}" in text
    assert '"surveys/download.csv":   # 把每个编号写成 positive（肯定）或 negative（否定）\n    awareness: {1: 待填写}' in text
    assert main(["--init-config", "--data", str(data)]) == 2  # never overwrites
    assert main(["--check", "--data", str(data)]) == 2  # 待填写 stops the run until filled in
    text = text.replace('"surveys/download.csv": 待填写', '"surveys/download.csv": 甲社区').replace("awareness: {1: 待填写}", "awareness: {1: positive}")
    (data / "subdistrict.yml").write_text(text, encoding="utf-8")
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 0


# --- section 11: activities, shops, visitor roles, responsible ---------------------------------

def test_activities_are_read_with_counts_in_staff_forms(tmp_path):
    data = make_data(tmp_path / "d")
    head = ["七一社区志愿服务记录"], ["活动日期", "活动名称", "参与人数", "其中党员", "服务时长", "清理点位"]
    rows = [["2023-09-09", "星期六爱国卫生大清理", "12人", "3", "2.5小时", "8处"],  # row 3
            ["2023-09-09", "星期六爱国卫生大清理", "12人", "3", "2.5小时", "8处"],  # row 4: resent
            ["2023-09-06", "创城宣传进楼院", "5人次", "", "", ""],  # row 5
            ["2023-09-07", "动员会", "20", "25", "", ""],  # row 6: more party members than participants
            ["2023-09-08", "楼道清扫", "十个", "", "", ""]]  # row 7
    write(data, "activities", "甲社区_活动.csv", [*head, *rows])
    c = clean_folder(data, Config())
    assert c.activities[["kind", "participants", "party_members", "hours", "spots"]].values.tolist() == [
        ["cleanup", 12, 3, 2.5, 8], ["publicity", 5, 0, 0.0, 0]]
    assert reasons(c, "activities/甲社区_活动.csv") == {4: "duplicate row", 6: "bad count", 7: "bad count"}
    assert c.shops is None  # no shops/ folder
    assert_rows_accounted_optional(c)


def test_shop_inspections_one_per_shop_and_day(tmp_path):
    data = make_data(tmp_path / "d")
    head = ["巡查日期", "社区", "商铺名称", "巡查结果", "存在问题", "处理措施", "整改期限", "责任书", "所在街路"]
    rows = [["2023-09-05", "甲社区", "老王 面馆", "不合格", "占道经营、垃圾乱放", "限期整改", "2023-09-08", "已签", "人民路"],
            ["2023-09-05", "甲社区", "老王面馆", "合格", "", "", "", "", "人民路"],  # same shop, same day: stands
            ["2023-09-05", "甲社区", "小李超市", "有问题", "车辆乱停┋店外经营", "联合执法", "", "否", "港湾街"],
            ["2023-09-05", "甲社区", "小李超市", "有问题", "车辆乱停┋店外经营", "联合执法", "", "否", "港湾街"],  # resend
            ["2023-09-06", "甲社区", "花店", "待定", "", "", "", "", ""]]
    write(data, "shops", "s.csv", [head, *rows])
    c = clean_folder(data, Config())
    assert reasons(c, "shops/s.csv") == {2: "superseded", 5: "duplicate row", 6: "unknown result"}
    s = c.shops
    assert s["shop_key"].tolist() == ["甲社区|老王面馆", "甲社区|小李超市"]
    assert s["problems"].tolist() == ["", "parking;street_occupation"]
    assert s["action"].tolist() == ["none", "enforcement"] and s["signed"].tolist() == ["unknown", "no"]


def test_visitor_roles_and_the_identity_column(tmp_path):
    data = make_data(tmp_path / "d")
    write(data, "visits", "v.csv", [["走访日期", "社区", "地址", "走访结果", "走访人", "走访人身份"],
                                    ["2023-09-05", "甲社区", "3-2-501", "已入户", "楼长（党员）张三", ""],
                                    ["2023-09-05", "甲社区", "3-2-502", "已入户", "党员志愿者李四", ""],
                                    ["2023-09-05", "甲社区", "5-302", "已入户", "王五", "网格员"],
                                    ["2023-09-06", "甲社区", "5-302", "不在家", "", ""],
                                    ["2023-09-06", "甲社区", "3-2-501", "不在家", "赵书记", ""]])
    c = clean_folder(data, Config())
    assert c.visits["role"].tolist() == ["building_leader", "party_member", "staff", "other", "staff"]


def assert_rows_accounted_optional(cleaned):
    for rec in cleaned.files:
        tables = {"activities": cleaned.activities, "shops": cleaned.shops}
        if rec.kind in tables:
            n_clean = int((tables[rec.kind]["file"] == rec.file).sum())
            assert rec.data_rows == n_clean + rec.rejected_rows


def test_check_prints_flagged_counts_and_says_which_flags_could_not_be_checked(tmp_path, capsys):
    data = make_data(tmp_path / "d", visits=[visit()])
    rows = [[str(i), f"2023-09-05 10:0{i}:00", "8秒", "9.9.9.9", "知道", "满意"] for i in range(1, 7)]
    write(data, "surveys", "甲社区.csv", [WJX[:3] + ["来自IP", WJX[5], WJX[6]], *rows])
    main(["--check", "--data", str(data), "--week", "2023-W36"])
    out = capsys.readouterr().out
    # six returns from one IP within five minutes, all in 8 s; no comment column: 意见雷同 cannot be checked
    assert "甲社区：6 份有效问卷，标记 6 份（用时过短 6，集中提交 6，意见雷同 无法检查）" in out
    assert "乙社区：0 份有效问卷，标记 0 份（用时过短 无法检查，集中提交 无法检查，意见雷同 无法检查）" in out


def test_an_empty_registry_is_one_warning_first(tmp_path, capsys):
    data = make_data(tmp_path / "d", households=[], visits=[visit()])
    assert main(["--check", "--data", str(data), "--week", "2023-W36"]) == 1
    out = capsys.readouterr().out
    first = next(line for line in out.splitlines() if line.startswith("1. "))
    assert first.startswith("1. households/：住户台账中没有任何住户（文件只有表头）") and "被剔除" in first


def test_fix_workbook_shows_a_date_columns_excel_serials_as_dates():
    """An .xlsx survey's 提交时间 cell holds a serial (45149.834…): staff read it as a date."""
    import pandas as pd

    from canvass.ingest.records import FileRecord
    from canvass.report.fixlist import _rows_with_cells, fix_table

    files = [FileRecord("surveys", "surveys/s.xlsx", "", columns={"submitted_at": "提交时间"})]
    rejects = pd.DataFrame({"file": ["surveys/s.xlsx"] * 3, "row": [2, 3, 4], "说明": ["x"] * 3,
                            "raw": ['{"提交时间": "45149.83402777778", "序号": "45149"}', '{"提交时间": "45149"}',
                                    '{"提交时间": "2023-08-11 20:01"}']})
    header, rows = _rows_with_cells(fix_table(rejects, files))
    assert header == ["文件", "行号", "原因", "提交时间", "序号"]
    assert [r[3:] for r in rows] == [["2023-08-11 20:01:00", "45149"], ["2023-08-11", ""], ["2023-08-11 20:01", ""]]
