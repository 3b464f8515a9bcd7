"""Household addresses → (building, unit, room): data contract section 3.

Every spelling staff use for one flat must give the same key; anything else is
unparseable (``None``), so that the cleaner rejects it as ``unparseable address``.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvass.ingest.address import (
    household_key,
    parse_address,
    parse_address_column,
    parse_building,
    parse_room,
    parse_split_columns,
    parse_unit,
)
from canvass.ingest.normalize import chinese_to_int, nfkc


def parse(text: str):
    """Parse one address string the way the cleaner does: NFKC + trim first."""
    return parse_address(nfkc(text))


# --- section 3: every listed rendering of building 3, unit 2, room 501 ----------------

SECTION_3_VARIANTS = [
    "3号楼2单元501室",
    "3号楼2单元501",
    "3栋2单元501",
    "3幢2单元501室",
    "3座2单元501",
    "三号楼二单元501室",
    "3-2-501",
    "３－２－５０１",  # full-width digits and hyphens
    "3#2-501",
    "3号2单元501",
    " 3 号楼 2 单元 501 室 ",  # spaces anywhere
]


@pytest.mark.parametrize("text", SECTION_3_VARIANTS)
def test_every_section_3_variant_parses_to_3_2_501(text):
    assert parse(text) == ("3", "2", "501")


def test_all_section_3_variants_give_one_key():
    keys = {household_key("七一社区", *parse(t)) for t in SECTION_3_VARIANTS}
    assert keys == {"七一社区|3|2|501"}


@pytest.mark.parametrize("text", ["3 号 楼 2 单 元 5 0 1 室", "3\t号楼\u30002单元501室", "3 - 2 - 501"])
def test_spaces_anywhere_including_ideographic_space_and_tabs(text):
    assert parse(text) == ("3", "2", "501")


# --- two-part forms: building and room, no unit -----------------------------------

@pytest.mark.parametrize("text", ["3-501", "3号楼501室", "３－５０１", " 3 号楼 501 室 "])
def test_two_part_forms_have_an_empty_unit(text):
    assert parse(text) == ("3", "", "501")


def test_two_part_form_differs_from_three_part_form():
    # No fuzzy matching: 3-501 is not 3-2-501 (contract, precise rules).
    assert parse("3-501") != parse("3-2-501")


# --- rooms are compared as integers when numeric ----------------------------------

@pytest.mark.parametrize("text", ["3-2-0501", "3号楼2单元0501室", "３－２－０５０１"])
def test_leading_zero_room_equals_plain_room(text):
    assert parse(text) == ("3", "2", "501")


def test_leading_zero_room_in_two_part_form():
    assert parse("3-0501") == ("3", "", "501")


# --- Chinese numerals in building and unit ----------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("十一号楼二单元501室", ("11", "2", "501")),
    ("二十三号楼二十三单元501室", ("23", "23", "501")),
    ("十号楼一单元101", ("10", "1", "101")),
    ("九十九栋九单元1201", ("99", "9", "1201")),
    ("三号楼501室", ("3", "", "501")),
    ("11号楼十一单元501", ("11", "11", "501")),
])
def test_chinese_numerals_in_building_and_unit(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text,value", [
    ("一", 1), ("九", 9), ("十", 10), ("十一", 11), ("十九", 19), ("二十", 20), ("二十三", 23),
    ("九十九", 99), ("两", 2),
])
def test_chinese_to_int_values(text, value):
    assert chinese_to_int(text) == value


@pytest.mark.parametrize("text", ["一百", "十十", "三三", "二十三四", "", "3", "甲"])
def test_chinese_to_int_rejects_non_numerals(text):
    assert chinese_to_int(text) is None


# --- unparseable ---------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "人民路12号3-2-501",  # a street prefix is not required to parse (section 3)
    "3号楼",  # building only
    "3",
    "",
    "A座2单元501",
    "3-2-501-7",
    "3号楼2单元",
    "三号楼二单元五零一室",  # room numbers are digits
    "不详",
])
def test_unparseable_addresses_give_none(text):
    assert parse(text) is None


# --- split address columns (楼号 / 单元 / 室 may carry their suffixes) --------------

@pytest.mark.parametrize("text", ["3", "3号楼", "3栋", "3幢", "3座", "3号", "3楼", "3#", "三号楼", "三栋", " 3 号楼 "])
def test_parse_building_cell(text):
    assert parse_building(nfkc(text)) == "3"


def test_parse_building_cell_chinese_two_digit():
    assert parse_building("十一号楼") == "11"
    assert parse_building("二十三栋") == "23"


@pytest.mark.parametrize("text", ["2", "2单元", "二单元", "二", " 2 单元 "])
def test_parse_unit_cell(text):
    assert parse_unit(nfkc(text)) == "2"


@pytest.mark.parametrize("text", ["501", "501室", "501号", "0501", "0501室", "５０１", " 501 室 "])
def test_parse_room_cell(text):
    assert parse_room(nfkc(text)) == "501"


@pytest.mark.parametrize("func,text", [
    (parse_building, "A座"), (parse_building, "三号楼二单元"), (parse_building, ""),
    (parse_unit, "甲单元"), (parse_unit, "2单元501"),
    (parse_room, "501A"), (parse_room, "五零一"), (parse_room, ""),
])
def test_split_cells_unparseable(func, text):
    assert func(text) is None


def test_parse_split_columns_with_suffixes_and_blank_unit():
    b = pd.Series(["3号楼", "3", "三栋", "3"], dtype="string")
    u = pd.Series(["2单元", "2", "二", ""], dtype="string")
    r = pd.Series(["501室", "0501", "501", "501"], dtype="string")
    parts = parse_split_columns(b, u, r)
    rows = [tuple(x) for x in parts[["building", "unit", "room"]].itertuples(index=False)]
    assert rows == [("3", "2", "501"), ("3", "2", "501"), ("3", "2", "501"), ("3", "", "501")]


def test_parse_split_columns_without_unit_column():
    parts = parse_split_columns(pd.Series(["3号楼"], dtype="string"), None, pd.Series(["501室"], dtype="string"))
    assert tuple(parts.iloc[0]) == ("3", "", "501")


# --- leading own community name (parse_address_column) ----------------------------

def test_leading_own_community_name_is_stripped():
    addresses = pd.Series(["修竹社区3号楼2单元501", "修竹社区 3-2-501", "3-2-501", "修竹社区３－２－５０１"], dtype="string")
    addresses = addresses.map(nfkc).astype("string")
    communities = pd.Series(["修竹社区"] * 4, dtype="string")
    parts = parse_address_column(addresses, communities)
    assert [tuple(r) for r in parts.itertuples(index=False)] == [("3", "2", "501")] * 4


def test_another_communitys_name_makes_the_address_unparseable():
    addresses = pd.Series(["七一社区3号楼2单元501", "修竹社区3号楼2单元501"], dtype="string")
    communities = pd.Series(["修竹社区", "七一社区"], dtype="string")
    parts = parse_address_column(addresses, communities)
    assert parts["building"].isna().all() and parts["room"].isna().all()


def test_street_prefix_is_unparseable_in_a_column():
    addresses = pd.Series(["人民路12号3-2-501", "3-2-501"], dtype="string")
    communities = pd.Series(["海港社区", "海港社区"], dtype="string")
    parts = parse_address_column(addresses, communities)
    assert parts.loc[0].isna().all()
    assert tuple(parts.loc[1]) == ("3", "2", "501")


def test_parse_address_column_keeps_the_index_and_row_order():
    addresses = pd.Series(["3-2-501", "bad", "4-1-1201", "5-302"], index=[10, 11, 12, 13], dtype="string")
    communities = pd.Series(["甲社区"] * 4, index=[10, 11, 12, 13], dtype="string")
    parts = parse_address_column(addresses, communities)
    assert list(parts.index) == [10, 11, 12, 13]
    assert tuple(parts.loc[10]) == ("3", "2", "501")
    assert parts.loc[11].isna().all()
    assert tuple(parts.loc[12]) == ("4", "1", "1201")
    assert tuple(parts.loc[13]) == ("5", "", "302")


# --- property: every rendering of random (building, unit, room) gives one key -------

_CN = "零一二三四五六七八九"
_FULLWIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


def cn_numeral(n: int) -> str:
    """Independent Chinese numeral writer for 1–99 (十一, 二十三)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _CN[ones]
    head = "" if tens == 1 else _CN[tens]
    return head + "十" + (_CN[ones] if ones else "")


def renderings(b: int, u: int, r: int, pad: int) -> list[str]:
    room = str(r).zfill(len(str(r)) + pad)
    out = [
        f"{b}号楼{u}单元{room}室", f"{b}号楼{u}单元{room}", f"{b}栋{u}单元{room}", f"{b}幢{u}单元{room}室",
        f"{b}座{u}单元{room}", f"{cn_numeral(b)}号楼{cn_numeral(u)}单元{room}室", f"{b}-{u}-{room}",
        f"{b}-{u}-{room}".translate(_FULLWIDTH), f"{b}#{u}-{room}", f"{b}号{u}单元{room}",
        f" {b} 号楼 {u} 单元 {room} 室 ",
    ]
    return out


@settings(max_examples=60, deadline=None)
@given(b=st.integers(1, 99), u=st.integers(1, 99), r=st.integers(1, 9999), pad=st.integers(0, 2))
def test_property_every_rendering_parses_to_the_same_key(b, u, r, pad):
    expected = (str(b), str(u), str(r))
    for text in renderings(b, u, r, pad):
        assert parse(text) == expected, text


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 99), r=st.integers(1, 9999))
def test_property_two_part_renderings(b, r):
    expected = (str(b), "", str(r))
    for text in (f"{b}-{r}", f"{b}号楼{r}室", f"{cn_numeral(b)}号楼{r}室", f"{b}-{r}".translate(_FULLWIDTH)):
        assert parse(text) == expected, text


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 99), u=st.integers(1, 99), r=st.integers(1, 9999))
def test_property_split_cells_agree_with_address_string(b, u, r):
    cells = parse_split_columns(pd.Series([f"{b}号楼", cn_numeral(b)], dtype="string"),
                                pd.Series([f"{u}单元", cn_numeral(u)], dtype="string"),
                                pd.Series([f"{r}室", f"0{r}"], dtype="string"))
    for row in cells.itertuples(index=False):
        assert tuple(row) == parse(f"{b}-{u}-{r}") == (str(b), str(u), str(r))
