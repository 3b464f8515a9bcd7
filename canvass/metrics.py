"""The campaign metrics of one report week, per community and pooled.

Pooled rates are sums of numerators over sums of denominators, never a mean of rates.
Everything is "as of W": rows dated after W's Sunday are invisible.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .clean import Cleaned
from .config import METRIC_FIELDS, TARGET_KEYS
from .dates import week_bounds, week_label

Z95 = 1.959963984540054
LOW_SAMPLE = 30
TOLERANCE = 1e-9
AMBER_BAND = 0.05

BASE_COLUMNS = ["households", "reached_cum", "coverage_cum", "visits_week", "entered_week",
                "returns_week", "returns_cum"]
RATE_COLUMNS = [c for x in METRIC_FIELDS for c in (f"{x}_rate_week", f"{x}_rate_cum", f"{x}_n_week", f"{x}_n_cum")]
TAIL_COLUMNS = ["issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue",
                "resolution_rate_cum", "materials_week", "rejected_rows"]
METRIC_COLUMNS = ["scope", "community", "week"] + BASE_COLUMNS + RATE_COLUMNS + TAIL_COLUMNS
COUNT_COLUMNS = (["households", "reached_cum", "visits_week", "entered_week", "returns_week", "returns_cum"]
                 + [f"{x}_{k}" for x in METRIC_FIELDS for k in ("pos_week", "n_week", "pos_cum", "n_cum")]
                 + ["issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue",
                    "issues_raised_cum", "issues_resolved_cum", "materials_week", "rejected_rows"])


@dataclass
class WeekView:
    """The rows one report week sees: standing survey returns, superseded ones, W's rejects."""

    week: str
    monday: pd.Timestamp
    sunday: pd.Timestamp
    surveys: pd.DataFrame
    superseded: pd.DataFrame
    rejects: pd.DataFrame


def week_view(cleaned: Cleaned, week: str) -> WeekView:
    """Return what week ``week`` sees of ``cleaned`` (survey de-duplication as of W)."""
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    s = cleaned.surveys
    s = s[s["date"] <= sunday]
    named = s[~s["anonymous"].astype(bool)].sort_values(["submitted_at", "order"], kind="stable")
    last = ~named.duplicated("key", keep="last")
    standing_idx = named.index[last.to_numpy()].union(s.index[s["anonymous"].astype(bool).to_numpy()])
    standing = s.loc[s.index.isin(standing_idx)]
    superseded = named[~last.to_numpy()]
    r = cleaned.rejects
    if len(r):
        dated = pd.to_datetime(r["date"])
        keep = (r["kind"] == "households") | dated.isna() | (dated.dt.normalize() <= sunday)
        r = r[keep.to_numpy()]
    sup = pd.DataFrame({
        "file": superseded["file"], "row": superseded["row"], "community": superseded["community"],
        "field": "", "reason": "superseded", "kind": "surveys", "date": superseded["submitted_at"],
        "household": superseded["key"],
    })
    rejects = pd.concat([r, sup], ignore_index=True) if len(sup) else r.reset_index(drop=True)
    return WeekView(week, monday, sunday, standing, superseded, rejects)


def _count(series_by_comm: pd.Series, order: list) -> pd.Series:
    return series_by_comm.reindex(order, fill_value=0).astype("int64")


def metric_counts(cleaned: Cleaned, week: str, overdue_days: int | None = None,
                  view: WeekView | None = None) -> pd.DataFrame:
    """Return the numerators and denominators per community (index in display order)."""
    order = list(cleaned.communities)
    view = view or week_view(cleaned, week)
    monday, sunday = view.monday, view.sunday
    overdue_days = cleaned.config.overdue_days if overdue_days is None else overdue_days
    out = pd.DataFrame(index=pd.Index(order, name="community"))

    h = cleaned.households
    occupied = h[h["occupied"].astype(bool)]
    out["households"] = _count(occupied.groupby("community").size(), order)

    v = cleaned.visits
    v_cum = v[v["date"] <= sunday]
    reached_keys = v_cum.loc[v_cum["outcome"].isin(["entered", "online"]), "key"].unique()
    reached = occupied[occupied["key"].isin(reached_keys)]
    out["reached_cum"] = _count(reached.groupby("community").size(), order)
    v_week = v_cum[v_cum["date"] >= monday]
    out["visits_week"] = _count(v_week.groupby("community").size(), order)
    out["entered_week"] = _count(v_week[v_week["outcome"] == "entered"].groupby("community").size(), order)
    out["materials_week"] = _count(v_week.groupby("community")["materials"].sum(), order)

    s_cum = view.surveys
    s_week = s_cum[s_cum["date"] >= monday]
    out["returns_week"] = _count(s_week.groupby("community").size(), order)
    out["returns_cum"] = _count(s_cum.groupby("community").size(), order)
    for x in METRIC_FIELDS:
        for label, frame in (("week", s_week), ("cum", s_cum)):
            codes = frame[x]
            out[f"{x}_pos_{label}"] = _count((codes == 1).groupby(frame["community"]).sum(), order)
            out[f"{x}_n_{label}"] = _count(codes.isin([0, 1]).groupby(frame["community"]).sum(), order)

    i = cleaned.issues
    i_cum = i[i["raised"] <= sunday]
    resolved_asof = i_cum["resolved"].notna() & (i_cum["resolved"] <= sunday)
    out["issues_raised_week"] = _count(i_cum[i_cum["raised"] >= monday].groupby("community").size(), order)
    res_week = i[i["resolved"].notna() & (i["resolved"] >= monday) & (i["resolved"] <= sunday)]
    out["issues_resolved_week"] = _count(res_week.groupby("community").size(), order)
    open_ = i_cum[~resolved_asof]
    out["issues_open"] = _count(open_.groupby("community").size(), order)
    age = (sunday - open_["raised"]).dt.days
    out["issues_overdue"] = _count(open_[age > overdue_days].groupby("community").size(), order)
    out["issues_raised_cum"] = _count(i_cum.groupby("community").size(), order)
    out["issues_resolved_cum"] = _count(i_cum[resolved_asof].groupby("community").size(), order)

    rj = view.rejects
    out["rejected_rows"] = _count(rj.groupby("community").size() if len(rj) else pd.Series(dtype="int64"), order)
    out.attrs["rejected_total"] = int(len(rj))
    return out[COUNT_COLUMNS]


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def wilson(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Return the (low, high) Wilson score interval of k successes in n trials (NaN if n = 0)."""
    k = np.asarray(k, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    bad = n <= 0
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def status(rate, target: float) -> np.ndarray:
    """Return green / amber / red per rate against a target ('' where the rate is empty)."""
    rate = np.asarray(rate, dtype="float64")
    gap = rate - target
    out = np.where(gap >= -TOLERANCE, "green", np.where(gap >= -AMBER_BAND - TOLERANCE, "amber", "red"))
    return np.where(np.isnan(rate), "", out)


def metrics_table(counts: pd.DataFrame, week: str, subdistrict: str, targets: dict) -> pd.DataFrame:
    """Return the metrics.csv table from counts: one row per community, then the pooled row."""
    pooled = counts.sum(axis=0).to_frame().T
    pooled["rejected_rows"] = counts.attrs.get("rejected_total", int(counts["rejected_rows"].sum()))
    c = pd.concat([counts, pooled], ignore_index=True)
    t = pd.DataFrame({
        "scope": ["community"] * len(counts) + ["subdistrict"],
        "community": list(counts.index) + [subdistrict],
        "week": week,
    })
    for col in ["households", "reached_cum", "visits_week", "entered_week", "returns_week", "returns_cum"]:
        t[col] = c[col].to_numpy()
    t["coverage_cum"] = _ratio(c["reached_cum"], c["households"])
    for x in METRIC_FIELDS:
        t[f"{x}_rate_week"] = _ratio(c[f"{x}_pos_week"], c[f"{x}_n_week"])
        t[f"{x}_rate_cum"] = _ratio(c[f"{x}_pos_cum"], c[f"{x}_n_cum"])
        t[f"{x}_n_week"] = c[f"{x}_n_week"].to_numpy()
        t[f"{x}_n_cum"] = c[f"{x}_n_cum"].to_numpy()
    for col in ["issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue"]:
        t[col] = c[col].to_numpy()
    t["resolution_rate_cum"] = _ratio(c["issues_resolved_cum"], c["issues_raised_cum"])
    t["materials_week"] = c["materials_week"].to_numpy()
    t["rejected_rows"] = c["rejected_rows"].to_numpy()
    t = t[METRIC_COLUMNS].copy()
    # Extra columns: intervals, 样本不足 flags and status against targets.
    lo, hi = wilson(c["reached_cum"], c["households"])
    t["coverage_cum_low"], t["coverage_cum_high"] = lo, hi
    t["coverage_status"] = status(t["coverage_cum"], targets["coverage"])
    for x in METRIC_FIELDS:
        for label in ("week", "cum"):
            lo, hi = wilson(c[f"{x}_pos_{label}"], c[f"{x}_n_{label}"])
            t[f"{x}_rate_{label}_low"], t[f"{x}_rate_{label}_high"] = lo, hi
        t[f"{x}_low_sample"] = t[f"{x}_n_cum"] < LOW_SAMPLE
        t[f"{x}_status"] = status(t[f"{x}_rate_cum"], targets[x])
    t["issues_raised_cum"] = c["issues_raised_cum"].to_numpy()
    t["issues_resolved_cum"] = c["issues_resolved_cum"].to_numpy()
    return t


def compute_metrics(cleaned: Cleaned, week: str, targets: dict | None = None,
                    overdue_days: int | None = None) -> pd.DataFrame:
    """Return the metrics.csv table of week ``week`` (every community + the pooled row)."""
    targets = targets or cleaned.config.targets
    counts = metric_counts(cleaned, week, overdue_days)
    return metrics_table(counts, week, cleaned.config.name, targets)


def latest_week(cleaned: Cleaned, today: dt.date | None = None) -> str | None:
    """Return the latest ISO week with visit or survey rows not after today (None if none)."""
    today = pd.Timestamp(today or dt.date.today())
    dates = pd.concat([cleaned.visits["date"], cleaned.surveys["date"]])
    dates = dates[dates <= today]
    if dates.empty:
        return None
    return week_label(dates.max().date())


def campaign_weeks(cleaned: Cleaned, week: str) -> list[str]:
    """Return the weeks shown in trends: campaign start (or first dated row) to ``week``."""
    from .dates import weeks_between
    start = cleaned.config.campaign_start
    if start is None:
        dates = pd.concat([cleaned.visits["date"], cleaned.surveys["date"], cleaned.issues["raised"]])
        dates = dates[dates <= week_bounds(week)[1].isoformat()]
        start = dates.min().date() if len(dates) else week_bounds(week)[0]
    first = week_label(start)
    if week_bounds(first)[0] > week_bounds(week)[0]:
        return [week]
    return weeks_between(first, week)


def metrics_over_weeks(cleaned: Cleaned, week: str, targets: dict | None = None) -> pd.DataFrame:
    """Return the metrics table of every campaign week up to ``week``, stacked."""
    return pd.concat([compute_metrics(cleaned, w, targets) for w in campaign_weeks(cleaned, week)],
                     ignore_index=True)
