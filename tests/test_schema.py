"""Header matching: data contract sections 2 and 4 (aliases, keyword rules, precedence)."""

from __future__ import annotations

import pytest

from canvass.config import parse_config
from canvass.errors import ConfigError, InputError
from canvass.ingest.headers import map_columns
from canvass.ingest.kinds import ANSWERS, SPECS, UNANSWERED
from canvass.ingest.normalize import normalize_header
from canvass.vocab import reason_text

HOUSEHOLDS, VISITS, SURVEYS, ISSUES = (SPECS[k] for k in ("households", "visits", "surveys", "issues"))


def fields_by_header(headers, spec, extra=None, file="f.csv"):
    """Return field → header text for the columns map_columns chose."""
    cmap = map_columns(headers, spec, extra or {}, file)
    return {f: headers[i] for f, i in cmap.fields.items()}


# --- header normalisation ---------------------------------------------------------------

@pytest.mark.parametrize("cell,expected", [
    ("1、您所在的社区：", "您所在的社区"),
    ("Q3.您知道创城吗？", "您知道创城吗"),
    ("q3.社区", "社区"),
    ("12．满意度", "满意度"),  # full-width full stop
    ("12.满意度", "满意度"),
    ("3:社区", "社区"),
    ("(4)住址", "住址"),
    ("（4）住址", "住址"),  # full-width brackets become ASCII under NFKC
    ("社区*", "社区"),
    ("社区：", "社区"),
    ("社区:", "社区"),
    ("社区？", "社区"),
    ("社区?", "社区"),
    ("社区 ：*? ", "社区"),  # stripped repeatedly, spaces too
    ("  社区  ", "社区"),
    ("社区名称：*", "社区名称"),
    ("ＡＢＣ", "ABC"),  # full-width letters
    ("宣传材料（份）", "宣传材料(份)"),
])
def test_normalize_header(cell, expected):
    assert normalize_header(cell) == expected


@pytest.mark.parametrize("cell,expected", [
    ("2023年走访", "2023年走访"),  # digits not followed by a numbering mark stay
    ("(a)社区", "(a)社区"),  # only (digits) is a question number
    ("1、2、社区", "2、社区"),  # only one leading number is removed
    ("社区(4)", "社区(4)"),
])
def test_normalize_header_only_strips_a_leading_question_number(cell, expected):
    assert normalize_header(cell) == expected


def test_numbered_and_decorated_headers_match_aliases():
    headers = ["1、走访日期：", "Q2.社区", "(3)地址*", "4．走访结果？", "（5）宣传材料（份）"]
    assert fields_by_header(headers, VISITS) == {
        "date": "1、走访日期：", "community": "Q2.社区", "address": "(3)地址*", "outcome": "4．走访结果？",
        "materials": "（5）宣传材料（份）"}


# --- alias precedence ---------------------------------------------------------------------

def test_first_listed_alias_wins_date_before_time():
    # 时间 comes first in the sheet, but 日期 is listed before 时间 in the contract.
    headers = ["时间", "社区", "地址", "结果", "日期"]
    cmap = map_columns(headers, VISITS, {}, "v.csv")
    assert cmap.fields["date"] == 4
    assert "时间" in cmap.ignored


def test_first_listed_alias_wins_lianxi_dianhua_before_shouji():
    headers = ["社区", "网格", "地址", "手机", "联系电话"]
    cmap = map_columns(headers, HOUSEHOLDS, {}, "h.csv")
    assert cmap.fields["phone"] == 4
    assert "手机" in cmap.ignored


def test_first_listed_alias_wins_for_community():
    cmap = map_columns(["所属社区", "社区", "网格", "地址"], HOUSEHOLDS, {}, "h.csv")
    assert cmap.fields["community"] == 1


def test_split_address_beats_address_string():
    headers = ["社区", "网格", "地址", "楼号", "单元", "室"]
    cmap = map_columns(headers, HOUSEHOLDS, {}, "h.csv")
    assert cmap.split_address is True
    assert "address" not in cmap.fields
    assert (cmap.fields["building"], cmap.fields["unit"], cmap.fields["room"]) == (3, 4, 5)
    assert "地址" in cmap.ignored


def test_split_address_needs_building_and_room():
    # only a unit column: the address string is used, the unit column is ignored
    cmap = map_columns(["社区", "网格", "地址", "单元"], HOUSEHOLDS, {}, "h.csv")
    assert cmap.split_address is False
    assert cmap.fields["address"] == 2
    assert "unit" not in cmap.fields and "单元" in cmap.ignored


def test_split_address_without_unit_column():
    cmap = map_columns(["社区", "网格", "楼栋", "户号"], HOUSEHOLDS, {}, "h.csv")
    assert cmap.split_address is True
    assert cmap.fields["building"] == 2 and cmap.fields["room"] == 3 and "unit" not in cmap.fields


@pytest.mark.parametrize("building,room", [("楼号", "室"), ("楼栋", "门牌号"), ("楼", "房号"), ("楼号", "户号")])
def test_split_address_aliases(building, room):
    cmap = map_columns(["社区", "网格", building, room], HOUSEHOLDS, {}, "h.csv")
    assert cmap.split_address


@pytest.mark.parametrize("alias", ["地址", "住址", "门牌地址", "家庭住址"])
def test_address_string_aliases(alias):
    assert map_columns(["社区", "网格", alias], HOUSEHOLDS, {}, "h.csv").fields["address"] == 2


def test_unmatched_columns_are_listed_as_ignored():
    cmap = map_columns(["序号", "社区", "网格", "地址", "备注", ""], HOUSEHOLDS, {}, "h.csv")
    assert cmap.ignored == ["序号", "备注"]


# --- survey keyword rules (问卷星 numbered headers) -----------------------------------------

WJX_HEADERS = [
    "序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP",
    "1、您所在的社区：",
    "2、您对本社区的创城工作满意吗？",  # rule 1 satisfaction (also has 社区, 创城)
    "3、您支持我市创建全国文明城市吗？",  # rule 2 support (also 创建, 文明城市)
    "4、您是否参与过创城志愿服务？",  # rule 3 participation
    "5、您是否了解垃圾分类？",  # rule 4 garbage_sorting (了解 without 创建 etc.)
    "6、您知道我市正在创建全国文明城市吗？",  # rule 5 awareness
    "7、您对创城工作还有什么意见或建议？",  # rule 6 comment
    "8、您的住址（楼号-单元-室）",  # rule 7 address
    "总分",
]


def test_wenjuanxing_export_maps_every_question():
    got = fields_by_header(WJX_HEADERS, SURVEYS, file="s.xls")
    assert got == {
        "submitted_at": "提交答卷时间",
        "community": "1、您所在的社区：",
        "satisfaction": "2、您对本社区的创城工作满意吗？",
        "support": "3、您支持我市创建全国文明城市吗？",
        "participation": "4、您是否参与过创城志愿服务？",
        "garbage_sorting": "5、您是否了解垃圾分类？",
        "awareness": "6、您知道我市正在创建全国文明城市吗？",
        "comment": "7、您对创城工作还有什么意见或建议？",
        "address": "8、您的住址（楼号-单元-室）",
        # 9.4: three bookkeeping columns are kept for the credibility checks
        "sheet_id": "序号", "duration": "所用时间", "client": "来自IP",
    }


def test_wenjuanxing_bookkeeping_columns_are_ignored():
    cmap = map_columns(WJX_HEADERS, SURVEYS, {}, "s.xls")
    assert set(cmap.ignored) == {"来源", "来源详情", "总分"}


@pytest.mark.parametrize("header", ["IP地址", "来自IP", "开始时间", "答题时长(秒)", "浏览器", "IP城市"])
def test_bookkeeping_is_never_an_address_or_question(header):
    cmap = map_columns(["提交时间", "社区", "您的住址", header], SURVEYS, {}, "s.csv")
    assert cmap.fields["address"] == 2
    assert all(cmap.headers[i] != header for f, i in cmap.fields.items() if f not in ("duration", "client", "sheet_id"))


@pytest.mark.parametrize("header,field", [
    ("Q1.满意度", "satisfaction"),
    ("您对社区环境满意吗", "satisfaction"),  # rule 1 before rule 8 (社区)
    ("您是否支持垃圾分类", "support"),  # rule 2 before rule 4
    ("您参与过垃圾分类宣传吗", "participation"),  # rule 3 before rule 4
    ("您是否参与创城", "participation"),
    ("垃圾分类您知道吗", "garbage_sorting"),  # rule 4 before rule 5 (知道)
    ("您知道创城吗", "awareness"),
    ("您知晓文明城市吗", "awareness"),
    ("您了解我市创建工作吗", "awareness"),
    ("(5)您了解创城吗？", "awareness"),
    ("您的意见", "comment"),
    ("其他建议", "comment"),
    ("您的诉求", "comment"),
    ("您对社区有什么建议", "comment"),  # rule 6 before rule 8
    ("家庭住址（选填）", "address"),
    ("门牌", "address"),
    ("您的地址", "address"),
    ("您居住在哪个社区", "community"),  # rule 8
])
def test_each_keyword_rule_first_match_wins(header, field):
    headers = ["提交时间", "社区", header] if field != "community" else ["提交时间", header]
    got = fields_by_header(headers, SURVEYS)
    assert got.get(field) == header


@pytest.mark.parametrize("header", ["您知道吗", "您了解情况吗", "文明城市", "创建时间备注", "年龄"])
def test_headers_matching_no_rule_are_ignored(header):
    cmap = map_columns(["提交时间", "社区", header], SURVEYS, {}, "s.csv")
    assert set(cmap.fields) == {"submitted_at", "community"}
    assert cmap.ignored == [header]


def test_exact_community_column_beats_keyword_rule_8():
    headers = ["提交时间", "您居住的社区名称", "社区", "您所住的社区"]
    cmap = map_columns(headers, SURVEYS, {}, "s.csv")
    assert cmap.fields["community"] == 2  # no ambiguity error although two columns match rule 8
    assert {"您居住的社区名称", "您所住的社区"} <= set(cmap.ignored)


def test_exact_alias_beats_keyword_rule_for_address():
    cmap = map_columns(["提交时间", "社区", "您的门牌", "住址"], SURVEYS, {}, "s.csv")
    assert cmap.fields["address"] == 3


def test_submitted_at_alias_order():
    cmap = map_columns(["日期", "填写时间", "社区"], SURVEYS, {}, "s.csv")
    assert cmap.fields["submitted_at"] == 1  # 填写时间 is listed before 日期


def test_two_keyword_columns_for_one_field_is_an_error_naming_both():
    # 9.5: only a tie at 50% or more of recognised answers is an error.
    import pandas as pd

    from canvass.config import Config
    from canvass.ingest.answers import choose_columns
    headers = ["提交时间", "社区", "您知道创城吗", "您了解文明城市创建工作吗"]
    cmap = map_columns(headers, SURVEYS, {}, "surveys/甲社区.csv")
    cols = {2: pd.Series(["知道", "不知道"]), 3: pd.Series(["A.知道", "了解"])}
    with pytest.raises(InputError) as info:
        choose_columns(cols, cmap, "surveys/甲社区.csv", Config(), set())
    msg = str(info.value)
    assert "您知道创城吗" in msg and "您了解文明城市创建工作吗" in msg
    assert "surveys/甲社区.csv" in msg
    assert info.value.file == "surveys/甲社区.csv"


def test_two_keyword_columns_are_fine_when_an_exact_alias_exists():
    extra = parse_config({"aliases": {"awareness": ["您知道创城吗"]}}, "subdistrict.yml").aliases
    headers = ["提交时间", "社区", "您知道创城吗", "您了解文明城市创建工作吗"]
    cmap = map_columns(headers, SURVEYS, extra, "s.csv")
    assert cmap.fields["awareness"] == 2
    assert "您了解文明城市创建工作吗" in cmap.ignored


def test_keyword_rules_do_not_apply_outside_surveys():
    # 您居住的社区 matches survey keyword rule 8 only; in visits it is no community column
    # (the community then comes from files: or the file name, section 9.1).
    cmap = map_columns(["日期", "您居住的社区", "地址", "结果"], VISITS, {}, "v.csv")
    assert "community" not in cmap.fields and "您居住的社区" in cmap.ignored


# --- missing required columns -----------------------------------------------------------

@pytest.mark.parametrize("spec,headers,missing,aliases", [
    (VISITS, ["日期", "社区", "地址"], "outcome", ["走访结果", "结果", "入户情况"]),
    (VISITS, ["社区", "地址", "结果"], "date", ["走访日期", "入户日期", "日期", "时间"]),
    (SURVEYS, ["社区", "住址"], "submitted_at", ["提交时间", "提交答卷时间", "填写时间", "日期"]),
    (ISSUES, ["登记日期", "社区"], "status", ["办理状态", "状态"]),
    (ISSUES, ["社区", "办理状态"], "raised", ["登记日期", "反映日期", "日期"]),
])
def test_missing_required_column_names_file_column_and_aliases(spec, headers, missing, aliases):
    with pytest.raises(InputError) as info:
        map_columns(headers, spec, {}, "visits/七一社区_第36周.csv")
    err = info.value
    msg = str(err)
    assert "visits/七一社区_第36周.csv" in msg
    assert missing in msg
    for a in aliases:
        assert a in msg
    assert err.file == "visits/七一社区_第36周.csv"


@pytest.mark.parametrize("spec,headers,folder", [
    # A survey download dropped into visits/: it has no visit date, and it is a survey.
    (VISITS, ["提交答卷时间", "社区", "楼号", "单元", "室", "您是否知晓创城", "您对创城工作满意吗"], "surveys/"),
    # A registry dropped into visits/.
    (VISITS, ["社区", "网格", "地址", "户主", "联系电话", "居住状态"], "households/"),
    # An issues list dropped into shops/.
    (SPECS["shops"], ["登记日期", "社区", "问题类别", "问题描述", "办理状态"], "issues/"),
])
def test_missing_column_of_another_folders_table_says_where_it_belongs(spec, headers, folder):
    with pytest.raises(InputError) as info:
        map_columns(headers, spec, {}, "x/甲.csv")
    msg = str(info.value)
    assert f"请移到 {folder} 文件夹" in msg and "是否放错了文件夹" in msg
    assert "表头中有以下之一" in msg  # the column advice stays, for a file that is in the right folder


@pytest.mark.parametrize("spec,headers", [
    (VISITS, ["日期", "社区", "地址"]),  # a visits file lacking its outcome: fits households no better
    (ISSUES, ["社区", "办理状态"]),
])
def test_missing_column_of_a_file_in_its_folder_suggests_no_other_folder(spec, headers):
    with pytest.raises(InputError) as info:
        map_columns(headers, spec, {}, "x/甲.csv")
    assert "请移到" not in str(info.value)


def test_no_header_row_names_the_folder_of_the_table_it_is():
    from canvass.ingest.headers import find_header_row
    rows = [["人民路街道问题台账"], ["登记日期", "社区", "问题类别", "问题描述", "办理状态"], ["2023-09-04", "甲社区", "环境", "x", "已办结"]]
    with pytest.raises(InputError) as info:
        find_header_row(iter(rows), HOUSEHOLDS, {}, "households/甲.csv")
    assert "请移到 issues/ 文件夹" in str(info.value)
    with pytest.raises(InputError) as info:
        find_header_row(iter([["a", "b"], ["1", "2"]]), HOUSEHOLDS, {}, "households/甲.csv")
    assert "请检查文件是否放错了文件夹" in str(info.value) and "请移到" not in str(info.value)


def test_missing_address_lists_string_and_split_aliases():
    with pytest.raises(InputError) as info:
        map_columns(["日期", "社区", "结果"], VISITS, {}, "v.csv")
    msg = str(info.value)
    assert "address" in msg
    for a in ("地址", "住址", "门牌地址", "家庭住址", "楼号", "单元", "室", "门牌号"):
        assert a in msg


def test_building_without_room_is_missing_address():
    with pytest.raises(InputError) as info:
        map_columns(["社区", "网格", "楼号", "单元"], HOUSEHOLDS, {}, "h.csv")
    assert "address" in str(info.value)


def test_surveys_address_is_optional():
    cmap = map_columns(["提交时间", "社区"], SURVEYS, {}, "s.csv")
    assert set(cmap.fields) == {"submitted_at", "community"}


# --- extra aliases from subdistrict.yml ---------------------------------------------------

def test_extra_aliases_from_config():
    config = parse_config({"aliases": {"grid": ["网格号"], "phone": ["户主电话"], "community": ["居委会"]}}, "s.yml")
    cmap = map_columns(["居委会", "网格号", "地址", "户主电话"], HOUSEHOLDS, config.aliases, "h.csv")
    assert cmap.fields == {"community": 0, "grid": 1, "address": 2, "phone": 3}


def test_builtin_aliases_come_before_extra_ones():
    config = parse_config({"aliases": {"phone": ["户主电话"]}}, "s.yml")
    cmap = map_columns(["社区", "网格", "地址", "户主电话", "手机"], HOUSEHOLDS, config.aliases, "h.csv")
    assert cmap.fields["phone"] == 4


def test_extra_alias_for_a_question_field_beats_keyword_rules():
    config = parse_config({"aliases": {"satisfaction": ["打分"]}}, "s.yml")
    cmap = map_columns(["提交时间", "社区", "打分", "您满意吗"], SURVEYS, config.aliases, "s.csv")
    assert cmap.fields["satisfaction"] == 2


def test_extra_aliases_are_nfkc_normalised():
    config = parse_config({"aliases": {"grid": ["网格（编号）"]}}, "s.yml")
    cmap = map_columns(["社区", "网格(编号)", "地址"], HOUSEHOLDS, config.aliases, "h.csv")
    assert cmap.fields["grid"] == 1


def test_unknown_alias_field_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as info:
        parse_config({"aliases": {"gird": ["网格号"]}}, "subdistrict.yml")
    assert "gird" in str(info.value)


# --- answer lists (exact values, never substrings) ---------------------------------------

def test_bu_zhidao_is_negative_never_positive():
    for question in ("awareness", "garbage_sorting"):
        positive, negative = ANSWERS[question]
        assert "不知道" in negative and "不知道" not in positive
        assert "知道" in positive


def test_answer_lists_do_not_overlap():
    for question, (positive, negative) in ANSWERS.items():
        assert not set(positive) & set(negative), question


def test_wenjuanxing_skip_markers_are_unanswered():
    assert {"", "(跳过)", "(空)"} <= set(UNANSWERED)


def test_reason_text_is_chinese():
    assert reason_text("missing address") == "缺少必填项：地址"
    assert reason_text("unknown household") == "地址在住户台账中不存在"
