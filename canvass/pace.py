"""Pace to 不漏一户 (contract section 12): when full coverage will be reached at the current pace.

Households still to reach shrink each week by the recent weekly share h (the mean of the
last two weeks' new reached ÷ remaining at the start of the week), so the last, hardest
households take longest. The projection is the first week whose expected remainder drops
below half a household; beyond 52 weeks, or with no progress, there is none.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from canvass.weeks import week_bounds, week_label

MAX_WEEKS = 52
TOLERANCE = 1e-9
FULL = "已全覆盖"
NO_PACE = "按近两周进度无法完成"
PACE_COLUMNS = ["new_reached_week", "remaining", "projected_full", "days_left", "needed_per_day", "on_track"]


def previous_week(week: str, n: int = 1) -> str:
    return week_label(week_bounds(week)[0] - dt.timedelta(days=7 * n))


def weeks_to_full(remaining: int, h: float) -> int | None:
    """Return the smallest k ≥ 1 with remaining·(1−h)^k < 0.5 (within 1e-9 is not below), or None past 52."""
    if remaining <= 0 or not h > 0:
        return None
    for k in range(1, MAX_WEEKS + 1):
        if remaining * (1 - h) ** k < 0.5 - TOLERANCE:
            return k
    return None


def weekly_rate(households, reached: dict, week: str, first_week: str) -> np.ndarray:
    """Return h per row: the mean of h(V) for V in {W−1, W} on or after the first week (NaN: none).

    ``reached`` maps a week label to an array of reached_cum for that week (W, W−1, W−2).
    """
    households = np.asarray(households, dtype=float)
    rates = []
    first = week_bounds(first_week)[0]
    for v in (previous_week(week), week):
        if week_bounds(v)[0] < first:
            continue
        prev = previous_week(v)
        new = np.asarray(reached[v], dtype=float) - np.asarray(reached[prev], dtype=float)
        remaining_before = households - np.asarray(reached[prev], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates.append(np.where(remaining_before > 0, new / np.where(remaining_before > 0, remaining_before, 1), np.nan))
    if not rates:
        return np.full(len(households), np.nan)
    stack = np.vstack(rates)
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(stack)).sum(axis=0)
        total = np.nansum(stack, axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def pace_table(households, reached: dict, week: str, first_week: str,
               assessment_date: dt.date | None = None) -> pd.DataFrame:
    """Return section 12's columns for aligned arrays of households and reached_cum by week."""
    households = np.asarray(households, dtype=np.int64)
    now = np.asarray(reached[week], dtype=np.int64)
    new = now - np.asarray(reached[previous_week(week)], dtype=np.int64)
    remaining = households - now
    h = weekly_rate(households, reached, week, first_week)
    sunday = week_bounds(week)[1]
    projected, days_left, needed, on_track, text = [], [], [], [], []
    for rem, rate in zip(remaining, h):
        k = weeks_to_full(int(rem), float(rate)) if not math.isnan(rate) else None
        full = sunday + dt.timedelta(days=7 * k) if k is not None else None
        projected.append(full.isoformat() if full else "")
        text.append(FULL if rem <= 0 else (full.isoformat() if full else NO_PACE))
        if assessment_date is None:
            days_left.append(np.nan)
            needed.append(np.nan)
            on_track.append("")
            continue
        left = (assessment_date - sunday).days
        days_left.append(left)
        needed.append(math.ceil(rem / left) if left > 0 else np.nan)
        if rem <= 0:
            on_track.append("true")
        elif full is None:
            on_track.append("false")
        else:
            on_track.append("true" if full <= assessment_date else "false")
    return pd.DataFrame({
        "new_reached_week": new, "remaining": remaining, "projected_full": projected,
        "days_left": pd.array(days_left, dtype="Int64") if assessment_date else days_left,
        "needed_per_day": pd.array([None if (isinstance(x, float) and math.isnan(x)) else x for x in needed],
                                   dtype="Int64"),
        "on_track": on_track, "pace_text": text, "weekly_rate": h,
    })
