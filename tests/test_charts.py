"""The trend chart's dashed projection of coverage (section 12's model, drawn up to the projected date)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from canvass.report import charts


def trend(**last) -> pd.DataFrame:
    rows = [{"week": "2023-W35", "households": 100, "reached_cum": 20, "coverage_cum": 0.2, "remaining": 80,
             "new_reached_week": 20, "projected_full": ""},
            {"week": "2023-W36", "households": 100, "reached_cum": 60, "coverage_cum": 0.6, "remaining": 40,
             "new_reached_week": 40, "projected_full": "2023-09-24"}]
    rows[-1].update(last)
    return pd.DataFrame(rows)


def test_projection_follows_the_pace_model_to_the_projected_date():
    # h = mean(40/80) = 0.5 (W35 has no earlier row here): 40 → 20 → 10 …; projected_full two weeks on
    ks, cov = charts.coverage_projection(trend())
    assert ks == [0, 1, 2]
    assert cov[:2] == pytest.approx([0.6, 0.8]) and cov[-1] == 1.0


def test_projection_without_a_date_runs_to_the_assessment_or_not_at_all():
    flat = trend(new_reached_week=0, projected_full="")
    ks, cov = charts.coverage_projection(flat, dt.date(2023, 9, 30))  # 20 days after Sunday 09-10: 3 weeks
    assert ks == [0, 1, 2, 3] and cov == pytest.approx([0.6] * 4)
    assert charts.coverage_projection(flat) == ([], [])
    assert charts.coverage_projection(trend(remaining=0)) == ([], [])


def test_trend_chart_draws_the_dashed_continuation():
    rates = {f"{k}_rate_cum": [0.9, 0.9] for k in ("awareness", "support", "participation", "satisfaction",
                                                   "garbage_sorting")}
    t = trend().assign(**rates)
    with_projection = charts.trend_chart(t, "x", projection=True, assessment_date=dt.date(2023, 9, 20))
    without = charts.trend_chart(t, "x")
    # one more dashed line (and the dotted assessment marker); labels are glyph paths, not text
    assert with_projection.count("stroke-dasharray") >= without.count("stroke-dasharray") + 2
