"""Dates and ISO weeks: every date form of the data contract, vectorised."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from .errors import ParameterError

_DATE_RE = (
    r"^(?P<y>\d{4})(?:(?P<sep>[-/.])(?P<m1>\d{1,2})(?P=sep)(?P<d1>\d{1,2})"
    r"|年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日)"
    r"(?:\s*T?\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?$"
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
SERIAL_MIN, SERIAL_MAX = 20000, 80000


def parse_datetimes(values: pd.Series) -> pd.Series:
    """Return naive timestamps for normalised date cells; NaT where unparseable or blank.

    Accepts Y-M-D with ``-``/``/``/``.``, 年月日, either followed by a time, and Excel
    serial numbers 20000–80000 (a fraction is the time of day).
    """
    if len(values) == 0:
        # Fix: a header-only file gives zero rows; mapping through an empty lookup
        # table crashed (cannot cast DatetimeArray to float64) instead of giving NaT-typed output.
        return pd.Series([], index=values.index, dtype="datetime64[ns]")
    uniques = pd.Series(pd.unique(values.astype("string").fillna("")), dtype="object")
    text = uniques.astype(str).str.strip()
    parts = text.str.extract(_DATE_RE)
    month = parts["m1"].fillna(parts["m2"])
    day = parts["d1"].fillna(parts["d2"])
    frame = pd.DataFrame({
        "year": pd.to_numeric(parts["y"], errors="coerce"),
        "month": pd.to_numeric(month, errors="coerce"),
        "day": pd.to_numeric(day, errors="coerce"),
        "hour": pd.to_numeric(parts["H"], errors="coerce").fillna(0),
        "minute": pd.to_numeric(parts["M"], errors="coerce").fillna(0),
        "second": pd.to_numeric(parts["S"], errors="coerce").fillna(0),
    })
    valid = frame[["year", "month", "day"]].notna().all(axis=1)
    valid &= frame["hour"].between(0, 23) & frame["minute"].between(0, 59) & frame["second"].between(0, 59)
    stamps = pd.Series(pd.NaT, index=uniques.index, dtype="datetime64[ns]")
    if valid.any():
        stamps[valid] = pd.to_datetime(frame[valid], errors="coerce")
    serial_text = text.str.fullmatch(r"\d{5}(?:\.\d+)?")
    serial = pd.to_numeric(text.where(serial_text), errors="coerce")
    is_serial = serial.notna() & (np.floor(serial) >= SERIAL_MIN) & (np.floor(serial) <= SERIAL_MAX)
    if is_serial.any():
        seconds = (serial[is_serial] * 86400).round().astype("int64")
        stamps[is_serial] = _EXCEL_EPOCH + pd.to_timedelta(seconds, unit="s")
    mapping = pd.Series(stamps.to_numpy(), index=uniques.to_numpy())
    out = values.astype("string").fillna("").map(mapping)
    return pd.to_datetime(out)


# --- ISO weeks --------------------------------------------------------------------

_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


def week_label(day: dt.date) -> str:
    """Return the ISO week label (``2023-W36``) of a date."""
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def week_bounds(label: str) -> tuple[dt.date, dt.date]:
    """Return (Monday, Sunday) of an ISO week label."""
    m = _WEEK_RE.match(label.strip())
    if not m:
        raise ParameterError(f"无法识别的周 “{label}”", expected="ISO 周如 2023-W36，或该周内的日期如 2023-09-05")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        monday = dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ParameterError(f"无效的周 “{label.strip()}”：{year} 年没有第 {week} 周", expected="ISO 周 01–52/53") from None
    return monday, monday + dt.timedelta(days=6)


def parse_week(text: str) -> str:
    """Return the ISO week label for ``2023-W36`` or any date inside the week."""
    text = str(text).strip()
    if _WEEK_RE.match(text):
        return week_label(week_bounds(text)[0])
    stamp = parse_datetimes(pd.Series([text]))[0]
    if pd.isna(stamp):
        raise ParameterError(f"无法识别的周 “{text}”", expected="ISO 周如 2023-W36，或该周内的日期如 2023-09-05")
    return week_label(stamp.date())


def weeks_between(first: str, last: str) -> list[str]:
    """Return every ISO week label from ``first`` to ``last`` inclusive."""
    start, _ = week_bounds(first)
    end, _ = week_bounds(last)
    out = []
    day = start
    while day <= end:
        out.append(week_label(day))
        day += dt.timedelta(days=7)
    return out


def format_week_cn(label: str) -> str:
    """Return the week's dates in Chinese: ``2023年9月4日–9月10日``."""
    mon, sun = week_bounds(label)
    if mon.year == sun.year:
        return f"{mon.year}年{mon.month}月{mon.day}日–{sun.month}月{sun.day}日"
    return f"{mon.year}年{mon.month}月{mon.day}日–{sun.year}年{sun.month}月{sun.day}日"
