"""ISO report weeks: labels, bounds, and the week a date or text names."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from canvass.errors import ParameterError
from canvass.ingest.dates import parse_datetimes

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
    """Return the ISO week label for ``2023-W36`` or any date inside the week (full-width
    ``２０２３－Ｗ３６`` typed with a Chinese input method, and ``2023-w36``, too)."""
    import unicodedata

    given = str(text).strip()
    text = unicodedata.normalize("NFKC", given).strip().upper()
    if _WEEK_RE.match(text):
        return week_label(week_bounds(text)[0])
    stamp = parse_datetimes(pd.Series([text]))[0]
    if pd.isna(stamp):
        raise ParameterError(f"无法识别的周 “{given}”", expected="ISO 周如 2023-W36，或该周内的日期如 2023-09-05")
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
