"""Dates (data contract section 4, "Dates" and precise rules) and ISO weeks (section 5)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvass.errors import ParameterError
from canvass.ingest.dates import parse_datetimes
from canvass.weeks import (
    format_week_cn,
    parse_week,
    week_bounds,
    week_label,
    weeks_between,
)

T = pd.Timestamp


def one(text: str):
    return parse_datetimes(pd.Series([text], dtype="object"))[0]


@pytest.mark.parametrize("text", [
    "2023-09-05", "2023/9/5", "2023.9.5", "2023年9月5日", "2023-9-5", "2023/09/05", "2023.09.05",
    "2023年09月05日", "  2023-09-05  ",
])
def test_accepted_date_forms(text):
    assert one(text) == T("2023-09-05")


@pytest.mark.parametrize("text,expected", [
    ("2023-09-05 19:30", "2023-09-05 19:30:00"),
    ("2023/9/5 19:30:12", "2023-09-05 19:30:12"),
    ("2023.9.5 9:30", "2023-09-05 09:30:00"),
    ("2023年9月5日 19:30", "2023-09-05 19:30:00"),
    ("2023-09-05 00:00:00", "2023-09-05 00:00:00"),  # how a real spreadsheet date reads as text
    ("2023-09-05 23:59:59", "2023-09-05 23:59:59"),
])
def test_dates_with_times_keep_the_full_timestamp(text, expected):
    # Survey de-duplication compares full timestamps; times are dropped only when weeks are placed.
    assert one(text) == T(expected)


@pytest.mark.parametrize("text,expected", [
    ("45174", "2023-09-05 00:00:00"),
    ("45174.8125", "2023-09-05 19:30:00"),  # 0.8125 day = 19.5 h
    ("45174.0", "2023-09-05 00:00:00"),
    ("45170.5", "2023-09-01 12:00:00"),
    ("20000", "1954-10-03 00:00:00"),  # lower bound, inclusive (1899-12-30 + 20000 days)
    ("80000", "2119-01-11 00:00:00"),  # upper bound, inclusive
])
def test_excel_serial_numbers(text, expected):
    assert one(text) == T(expected)


@pytest.mark.parametrize("text", [
    "19999", "80001", "100", "0", "-45174",  # serials outside 20000–80000
    "2023-13-45", "九月五日", "2023-02-30", "2023-09/05", "2023/9-5", "2023.9/5",  # invalid / mixed
    "2023-09-05 25:00", "2023-09-05 19:60", "", "   ", "abc", "20230905", "23-9-5", "9/5/2023",
    "2023年9月5", "2023-9-5-1",
])
def test_invalid_dates_are_nat(text):
    assert pd.isna(one(text))


def test_leap_day():
    assert one("2024-02-29") == T("2024-02-29")
    assert pd.isna(one("2023-02-29"))


def test_vectorised_parse_keeps_order_index_and_duplicates():
    values = pd.Series(["2023/9/5", "bad", "45174", "2023/9/5", "", "2023年9月6日 08:00"], index=[5, 6, 7, 8, 9, 10])
    out = parse_datetimes(values)
    assert list(out.index) == [5, 6, 7, 8, 9, 10]
    assert out[5] == T("2023-09-05") and out[8] == T("2023-09-05") and out[7] == T("2023-09-05")
    assert pd.isna(out[6]) and pd.isna(out[9])
    assert out[10] == T("2023-09-06 08:00")
    assert str(out.dtype).startswith("datetime64")


def test_parse_handles_missing_values():
    out = parse_datetimes(pd.Series(["2023-09-05", None, pd.NA], dtype="object"))
    assert out[0] == T("2023-09-05") and out[1:].isna().all()


def test_invalid_date_does_not_spoil_valid_neighbours():
    out = parse_datetimes(pd.Series(["2023-02-30", "2023-02-28", "2023-13-45", "2023-12-31"]))
    assert pd.isna(out[0]) and pd.isna(out[2])
    assert out[1] == T("2023-02-28") and out[3] == T("2023-12-31")


@settings(max_examples=60, deadline=None)
@given(day=st.dates(min_value=dt.date(1960, 1, 1), max_value=dt.date(2100, 12, 31)),
       hh=st.integers(0, 23), mm=st.integers(0, 59))
def test_property_every_form_of_one_date_agrees(day, hh, mm):
    y, m, d = day.year, day.month, day.day
    serial = (day - dt.date(1899, 12, 30)).days  # independent Excel serial arithmetic
    forms = [f"{y}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}", f"{y}年{m}月{d}日", str(serial)]
    out = parse_datetimes(pd.Series(forms))
    assert (out == T(day)).all(), list(zip(forms, out))
    timed = parse_datetimes(pd.Series([f"{y}/{m}/{d} {hh}:{mm:02d}", f"{serial + (hh * 60 + mm) / 1440!r}"]))
    assert timed[0] == T(day) + pd.Timedelta(hours=hh, minutes=mm)
    assert abs(timed[1] - timed[0]) <= pd.Timedelta(seconds=1)


# --- ISO weeks ------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2023-W36", "2023w36", "2023W36", "2023-w36", " 2023-W36 ", "2023-09-04",
                                  "2023-09-10", "2023/9/7", "2023年9月5日", "2023-09-10 23:59",
                                  "２０２３－Ｗ３６", "２０２３年９月５日"])  # full width: a Chinese input method
def test_parse_week_accepts_labels_and_dates_inside_the_week(text):
    assert parse_week(text) == "2023-W36"


def test_parse_week_pads_single_digit_weeks():
    assert parse_week("2023-W5") == "2023-W05"
    assert parse_week("2023-01-31") == "2023-W05"


def test_parse_week_iso_year_boundaries():
    assert parse_week("2021-01-01") == "2020-W53"  # Friday of ISO week 2020-W53
    assert parse_week("2024-12-30") == "2025-W01"
    assert parse_week("2020-W53") == "2020-W53"


@pytest.mark.parametrize("text", ["2023-W60", "2023-W53", "2023-W00", "W36", "2023-13-01", "", "next week",
                                  "九月五日", "2023-W3x"])
def test_parse_week_rejects_bad_weeks(text):
    with pytest.raises(ParameterError):
        parse_week(text)


def test_bad_week_error_mentions_the_input():
    with pytest.raises(ParameterError) as info:
        parse_week("2023-W60")
    assert "60" in str(info.value)


def test_week_bounds():
    assert week_bounds("2023-W36") == (dt.date(2023, 9, 4), dt.date(2023, 9, 10))
    assert week_bounds("2023-W37") == (dt.date(2023, 9, 11), dt.date(2023, 9, 17))
    assert week_bounds("2020-W53") == (dt.date(2020, 12, 28), dt.date(2021, 1, 3))
    with pytest.raises(ParameterError):
        week_bounds("2023-W53")


def test_week_bounds_are_monday_to_sunday():
    mon, sun = week_bounds("2023-W36")
    assert mon.weekday() == 0 and sun.weekday() == 6


def test_week_label():
    assert week_label(dt.date(2023, 9, 4)) == "2023-W36"
    assert week_label(dt.date(2023, 9, 10)) == "2023-W36"
    assert week_label(dt.date(2023, 9, 11)) == "2023-W37"
    assert week_label(dt.date(2023, 1, 1)) == "2022-W52"


def test_weeks_between():
    assert weeks_between("2023-W32", "2023-W36") == ["2023-W32", "2023-W33", "2023-W34", "2023-W35", "2023-W36"]
    assert weeks_between("2020-W52", "2021-W02") == ["2020-W52", "2020-W53", "2021-W01", "2021-W02"]


def test_format_week_cn():
    assert format_week_cn("2023-W36") == "2023年9月4日–9月10日"
    assert format_week_cn("2023-W35") == "2023年8月28日–9月3日"
    assert format_week_cn("2020-W53") == "2020年12月28日–2021年1月3日"


def test_empty_series_parses_to_an_empty_datetime_series():
    # a header-only file gives zero rows: parsing must not crash
    out = parse_datetimes(pd.Series([], dtype="object"))
    assert len(out) == 0 and str(out.dtype).startswith("datetime64")


@pytest.mark.parametrize("text", ["0000-01-01", "9999-12-31", "1600-01-01", "2262-04-12", "1677-01-01",
                                  "0001/1/1 10:00", "9999年12月31日"])
def test_dates_outside_the_timestamp_range_are_nat_not_a_crash(text):
    out = parse_datetimes(pd.Series([text, "2023-09-05"]))
    assert pd.isna(out[0]) and out[1] == T("2023-09-05")
