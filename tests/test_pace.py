"""Pace to 不漏一户 (contract section 12), every expected value worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from canvass.pace import FULL, NO_PACE, pace_table, weeks_to_full

W, W1, W2 = "2023-W36", "2023-W35", "2023-W34"  # W's Sunday is 2023-09-10


def table(households, r2, r1, r0, first="2023-W32", assessment=None):
    return pace_table([households], {W2: [r2], W1: [r1], W: [r0]}, W, first, assessment).iloc[0]


def test_two_weeks_of_progress():
    # h(W-1) = 20/60, h(W) = 10/40, h = 0.291667; 30 × 0.708333^k < 0.5 first at k = 12 (k = 11 gives 0.67)
    row = table(100, 40, 60, 70, assessment=dt.date(2023, 10, 15))
    assert (row["new_reached_week"], row["remaining"]) == (10, 30)
    assert row["projected_full"] == "2023-12-03"  # 2023-09-10 + 12 weeks
    assert (row["days_left"], row["needed_per_day"], row["on_track"]) == (35, 1, "false")  # ceil(30 / 35)


def test_the_campaigns_first_week_uses_h_of_w_alone():
    # h = 25/100; 75 × 0.75^k < 0.5 first at k = 18
    row = table(100, 0, 0, 25, first=W)
    assert row["projected_full"] == (dt.date(2023, 9, 10) + dt.timedelta(weeks=18)).isoformat()
    assert row["on_track"] == ""  # no assessment_date


def test_fully_covered_and_no_progress():
    full = table(50, 10, 30, 50, assessment=dt.date(2023, 10, 15))
    assert (full["remaining"], full["projected_full"], full["pace_text"], full["on_track"]) == (0, "", FULL, "true")
    stuck = table(50, 30, 30, 30, assessment=dt.date(2023, 10, 15))
    assert (stuck["projected_full"], stuck["pace_text"], stuck["on_track"]) == ("", NO_PACE, "false")


def test_more_than_52_weeks_is_no_projection():
    row = table(1000, 0, 1, 2)  # h ≈ 0.001: about 7,600 weeks
    assert row["projected_full"] == "" and row["pace_text"] == NO_PACE


@pytest.mark.parametrize("assessment,days,needed", [(dt.date(2023, 9, 10), 0, None), (dt.date(2023, 9, 1), -9, None),
                                                    (dt.date(2023, 9, 11), 1, 30)])
def test_days_left_zero_or_negative(assessment, days, needed):
    row = table(100, 40, 60, 70, assessment=assessment)
    assert row["days_left"] == days
    assert (row["needed_per_day"] is None or str(row["needed_per_day"]) == "<NA>") if needed is None \
        else row["needed_per_day"] == needed


def test_half_a_household_is_not_below_half():
    assert weeks_to_full(1, 0.5) == 2  # 1 × 0.5 = 0.5 is not below 0.5
    assert weeks_to_full(1, 1.0) == 1


def test_pooled_uses_the_pooled_counts():
    t = pace_table([100, 100, 200], {W2: [40, 0, 40], W1: [60, 0, 60], W: [70, 0, 70]}, W, "2023-W32")
    # pooled row: h(W-1) = 20/160, h(W) = 10/140 → the same formula on the sums
    assert t["remaining"].tolist() == [30, 100, 130]
    assert t["pace_text"].tolist()[1] == NO_PACE
