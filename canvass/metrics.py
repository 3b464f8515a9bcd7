"""The campaign metrics of one report week, per community and pooled.

Pooled rates are sums of numerators over sums of denominators, never a mean of rates.
Everything is "as of W": rows dated after W's Sunday are invisible.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from canvass import campaign
from canvass.ingest.clean import Cleaned
from canvass.vocab import (
    AMBER_BAND,
    LOW_SAMPLE,
    METRIC_FIELDS,
    REACHING,
    TOLERANCE,
    Z95,
)
from canvass.weeks import week_bounds, week_label

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


KEY_CODE = "_key_code"  # an integer per household key, in the history's copies of the tables


def _codes(values: pd.Series, order: list) -> np.ndarray:
    """Return integer community codes in display order (-1 for anything else)."""
    return pd.Index(order).get_indexer(pd.Index(values)).astype(np.int64)


def reached_households(households: pd.DataFrame, visits: pd.DataFrame, sunday: pd.Timestamp) -> np.ndarray:
    """Return a mask over ``households``: occupied and reached (a visit entered or online) as of Sunday.

    This is the one definition of 已覆盖 (reached): coverage, grid and building tables and the
    follow-up lists all take it from here.
    """
    dated = visits["date"].to_numpy() <= pd.Timestamp(sunday).to_datetime64()
    reaching = dated & np.isin(visits["outcome"].to_numpy(), REACHING)
    occupied = households["occupied"].astype(bool).to_numpy()
    if KEY_CODE in households and KEY_CODE in visits:  # the history's tables (_with_object_text)
        hcode, vcode = households[KEY_CODE].to_numpy(), visits[KEY_CODE].to_numpy()
        seen = np.zeros(max(int(hcode.max(initial=-1)), int(vcode.max(initial=-1))) + 1, bool)
        seen[vcode[reaching]] = True
        return seen[hcode] & occupied
    # Perf: Arrow's hash lookup (0.02 s for 60,000 households) instead of Series.isin, which
    # boxes every reached key on arrow text, or an Index of Python strings (0.09 s; the digest
    # asks five times).
    import pyarrow as pa
    import pyarrow.compute as pc

    reached = _arrow_text(visits["key"]).filter(pa.array(reaching))
    hit = pc.is_in(_arrow_text(households["key"]), value_set=reached).to_numpy(zero_copy_only=False)
    return hit.astype(bool) & occupied


def _arrow_text(values: pd.Series):
    """Return a text column as an Arrow large_string array (no Python strings made for Arrow text)."""
    import pyarrow as pa

    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return pa.array(values).cast(pa.large_string())
    return pa.array(values.to_numpy(dtype=object), type=pa.large_string())


@dataclass
class IssueState:
    """Masks over an issues table as of W's Sunday (one definition of open and overdue)."""

    raised: np.ndarray  # raised on or before Sunday
    resolved: np.ndarray  # raised and resolved on or before Sunday
    open: np.ndarray  # raised, not resolved as of Sunday
    overdue: np.ndarray  # open and raised more than ``overdue_days`` days before Sunday
    age_days: np.ndarray  # days from raised to Sunday


def issue_state(issues: pd.DataFrame, sunday: pd.Timestamp, overdue_days: int) -> IssueState:
    """Return which issues are raised, resolved, open and overdue as of ``sunday``."""
    sun = pd.Timestamp(sunday).to_datetime64()
    raised_at = issues["raised"].to_numpy(dtype="datetime64[ns]")
    resolved_at = issues["resolved"].to_numpy(dtype="datetime64[ns]")
    raised = raised_at <= sun
    resolved = raised & ~np.isnat(resolved_at) & (resolved_at <= sun)
    open_ = raised & ~resolved
    age = (sun - raised_at).astype("timedelta64[D]").astype(np.int64)
    return IssueState(raised, resolved, open_, open_ & (age > overdue_days), age)  # exactly overdue_days is not overdue


def rejects_as_of(rejects: pd.DataFrame, sunday: pd.Timestamp) -> np.ndarray:
    """Return a mask of the rejects week W sees: registry rows, undated rows and rows dated by Sunday."""
    if not len(rejects):
        return np.zeros(0, bool)
    dated = pd.to_datetime(rejects["date"])
    return ((rejects["kind"] == "households") | dated.isna()
            | (dated.dt.normalize() <= pd.Timestamp(sunday))).to_numpy()


def _standing_mask(surveys: pd.DataFrame, sunday: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Return (standing, superseded) masks: the latest return per household as of ``sunday``."""
    n = len(surveys)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    dated = (surveys["date"] <= sunday).to_numpy()
    anonymous = surveys["anonymous"].astype(bool).to_numpy()
    named = dated & ~anonymous
    idx = np.flatnonzero(named)
    standing = dated & anonymous
    superseded = np.zeros(n, bool)
    if len(idx):
        # Perf: sort integer codes of the keys, not the key strings (lexsort on 1M Python
        # strings took ~2.4 s); only equality of keys matters for the grouping.
        keys = pd.factorize(surveys["key"].to_numpy()[idx])[0]
        stamps = surveys["submitted_at"].to_numpy()[idx]
        order = surveys["order"].to_numpy()[idx]
        srt = np.lexsort((order, stamps, keys))  # by key, then time, then file order
        k = keys[srt]
        last = np.ones(len(srt), bool)
        last[:-1] = k[:-1] != k[1:]
        standing[idx[srt[last]]] = True
        superseded[idx[srt[~last]]] = True
    return standing, superseded


def week_view(cleaned: Cleaned, week: str) -> WeekView:
    """Return what week ``week`` sees of ``cleaned`` (survey de-duplication as of W)."""
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    s = cleaned.surveys
    standing, sup_mask = _standing_mask(s, sunday)
    superseded = s[sup_mask]
    r = cleaned.rejects
    if len(r):
        r = r[rejects_as_of(r, sunday)]
    sup = pd.DataFrame({
        "file": superseded["file"], "row": superseded["row"], "community": superseded["community"],
        "field": "", "reason": "superseded", "kind": "surveys", "date": superseded["submitted_at"],
        "household": superseded["key"],
        "raw": superseded["raw"] if "raw" in superseded else "",
    })
    rejects = pd.concat([r, sup], ignore_index=True) if len(sup) else r.reset_index(drop=True)
    return WeekView(week, monday, sunday, s[standing], superseded, rejects)


def metric_counts(cleaned: Cleaned, week: str, overdue_days: int | None = None) -> pd.DataFrame:
    """Return the numerators and denominators per community (index in display order).

    Counting is numpy ``bincount`` over community codes: one pass per metric, cheap
    enough to run for every week of a trend.
    """
    order = list(cleaned.communities)
    k = len(order)
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    overdue_days = cleaned.config.overdue_days if overdue_days is None else overdue_days

    def count(codes, mask=None, weights=None):
        c = codes if mask is None else codes[mask]
        w = None if weights is None else (weights if mask is None else weights[mask])
        ok = c >= 0
        return np.bincount(c[ok], weights=None if w is None else w[ok], minlength=k)[:k].astype(np.int64)

    out: dict = {}
    h = cleaned.households
    occupied = h["occupied"].astype(bool).to_numpy()
    hc = _codes(h["community"], order)
    out["households"] = count(hc, occupied)

    v = cleaned.visits
    vc = _codes(v["community"], order)
    vdate = v["date"].to_numpy()
    v_cum = vdate <= sunday.to_datetime64()
    v_week = v_cum & (vdate >= monday.to_datetime64())
    outcome = v["outcome"].to_numpy()
    out["reached_cum"] = count(hc, reached_households(h, v, sunday))
    out["visits_week"] = count(vc, v_week)
    out["entered_week"] = count(vc, v_week & (outcome == "entered"))
    out["materials_week"] = count(vc, v_week, v["materials"].to_numpy(dtype=np.float64))

    s = cleaned.surveys
    standing, superseded = _standing_mask(s, sunday)
    sc = _codes(s["community"], order)
    s_week = standing & (s["date"] >= monday).to_numpy()
    out["returns_week"] = count(sc, s_week)
    out["returns_cum"] = count(sc, standing)
    for x in METRIC_FIELDS:
        codes = s[x].to_numpy()
        pos, answered = codes == 1, (codes == 0) | (codes == 1)
        for label, mask in (("week", s_week), ("cum", standing)):
            out[f"{x}_pos_{label}"] = count(sc, mask & pos)
            out[f"{x}_n_{label}"] = count(sc, mask & answered)

    i = cleaned.issues
    ic = _codes(i["community"], order)
    raised = i["raised"].to_numpy()
    resolved = i["resolved"].to_numpy()
    state = issue_state(i, sunday, overdue_days)
    out["issues_raised_week"] = count(ic, state.raised & (raised >= monday.to_datetime64()))
    out["issues_resolved_week"] = count(ic, ~np.isnat(resolved) & (resolved >= monday.to_datetime64())
                                        & (resolved <= sunday.to_datetime64()))
    out["issues_open"] = count(ic, state.open)
    out["issues_overdue"] = count(ic, state.overdue)
    out["issues_raised_cum"] = count(ic, state.raised)
    out["issues_resolved_cum"] = count(ic, state.resolved)

    # W's rejected rows: the rejects it sees, and the returns superseded as of W.
    r = cleaned.rejects
    keep = rejects_as_of(r, sunday)
    sup = _codes(s.loc[superseded, "community"], order)
    rejected = count(_codes(r["community"], order), keep) + count(sup) if len(r) else count(sup)
    total = int(keep.sum()) + len(sup)
    out["rejected_rows"] = rejected
    extra = campaign.campaign_counts(cleaned, week, standing)  # sections 10-12
    pooled = extra.pop("_pooled")
    out.update(extra)
    frame = pd.DataFrame(out, index=pd.Index(order, name="community"))[COUNT_COLUMNS + campaign.count_columns(cleaned)]
    frame.attrs.update(rejected_total=total, pooled=pooled, first_week=campaign.first_week(cleaned, week),
                       assessment_date=cleaned.config.assessment_date)
    return frame


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
    c = {col: np.append(counts[col].to_numpy(), counts[col].sum()) for col in counts.columns}
    c["rejected_rows"][-1] = counts.attrs.get("rejected_total", int(counts["rejected_rows"].sum()))
    n = len(counts) + 1
    t: dict = {"scope": ["community"] * len(counts) + ["subdistrict"],
               "community": list(counts.index) + [subdistrict], "week": [week] * n}
    for col in ["households", "reached_cum"]:
        t[col] = c[col]
    t["coverage_cum"] = _ratio(c["reached_cum"], c["households"])
    for col in ["visits_week", "entered_week", "returns_week", "returns_cum"]:
        t[col] = c[col]
    for x in METRIC_FIELDS:
        t[f"{x}_rate_week"] = _ratio(c[f"{x}_pos_week"], c[f"{x}_n_week"])
        t[f"{x}_rate_cum"] = _ratio(c[f"{x}_pos_cum"], c[f"{x}_n_cum"])
        t[f"{x}_n_week"] = c[f"{x}_n_week"]
        t[f"{x}_n_cum"] = c[f"{x}_n_cum"]
    for col in ["issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue"]:
        t[col] = c[col]
    t["resolution_rate_cum"] = _ratio(c["issues_resolved_cum"], c["issues_raised_cum"])
    t["materials_week"] = c["materials_week"]
    t["rejected_rows"] = c["rejected_rows"]
    if "flagged_week" in c:  # sections 10, 11 and 12, in the contract's order
        t.update(campaign.campaign_columns(c, counts.attrs.get("pooled", {}), week,
                                           counts.attrs.get("first_week", week), counts.attrs.get("assessment_date")))
    # Extra columns: intervals, 样本不足 flags and status against targets.
    t["coverage_cum_low"], t["coverage_cum_high"] = wilson(c["reached_cum"], c["households"])
    t["coverage_status"] = status(t["coverage_cum"], targets["coverage"])
    for x in METRIC_FIELDS:
        for label in ("week", "cum"):
            t[f"{x}_rate_{label}_low"], t[f"{x}_rate_{label}_high"] = wilson(c[f"{x}_pos_{label}"], c[f"{x}_n_{label}"])
        t[f"{x}_low_sample"] = c[f"{x}_n_cum"] < LOW_SAMPLE
        t[f"{x}_status"] = status(t[f"{x}_rate_cum"], targets[x])
    t["issues_raised_cum"] = c["issues_raised_cum"]
    t["issues_resolved_cum"] = c["issues_resolved_cum"]
    return pd.DataFrame(t)


def compute_metrics(cleaned: Cleaned, week: str, targets: dict | None = None,
                    overdue_days: int | None = None) -> pd.DataFrame:
    """Return the metrics.csv table of week ``week`` (every community + the pooled row)."""
    targets = targets or cleaned.config.targets
    counts = metric_counts(cleaned, week, overdue_days)
    return metrics_table(counts, week, cleaned.config.name, targets)


def latest_week(cleaned: Cleaned, today: dt.date | None = None) -> str | None:
    """Return the latest complete ISO week with visit or survey rows: its Sunday is before today.

    Run on a Monday morning, this is last week, not the week that began that morning with
    one day of data (a partial week is reported only when asked for with ``--week``).
    """
    today = pd.Timestamp(today or dt.date.today())
    dates = cleaned.data_dates()
    dates = dates[dates < today]
    if dates.empty:
        return None
    # the Sunday ending each row's week; keep the weeks already over
    sundays = dates.dt.normalize() + pd.to_timedelta(6 - dates.dt.day_of_week, unit="D")
    done = sundays[sundays < today]
    return week_label(done.max().date()) if len(done) else None


def partial_week_until(cleaned: Cleaned, week: str, today: dt.date | None = None) -> dt.date | None:
    """Return the last day with data when ``week`` is not over yet (its Sunday is today or later), else None."""
    today = today or dt.date.today()
    monday, sunday = week_bounds(week)
    if sunday < today:
        return None
    dates = pd.concat([cleaned.visits["date"], cleaned.surveys["date"]]).dropna()
    dates = dates[(dates >= pd.Timestamp(monday)) & (dates <= pd.Timestamp(sunday))]
    return dates.max().date() if len(dates) else min(today, sunday)


def week_without_data(cleaned: Cleaned, week: str) -> str:
    """Return why week W has no visit or questionnaire dated in it ("" when it has some).

    A week asked for with ``--week`` before the data starts or after it ends is still reported
    (its cumulative numbers are real), but every page and the console say so.
    """
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    dates = cleaned.data_dates()
    if len(dates) and ((dates >= monday) & (dates < sunday + pd.Timedelta(days=1))).any():
        return ""
    if not len(dates):
        return "数据中没有任何走访或问卷记录"
    first, last = dates.min().date(), dates.max().date()
    span = f"数据中的走访和问卷日期为 {first:%Y-%m-%d} 至 {last:%Y-%m-%d}"
    if sunday.date() < first:
        return f"本周在数据开始之前，没有任何走访或问卷记录（{span}）"
    if monday.date() > last:
        return f"本周在最后一条记录之后，没有任何走访或问卷记录，本周数字都是 0（{span}）"
    return f"本周没有任何走访或问卷记录（{span}）"


def campaign_weeks(cleaned: Cleaned, week: str) -> list[str]:
    """Return the weeks shown in trends: the campaign's first week (``campaign_start``, else the
    week of the first dated visit) to ``week``."""
    return campaign.campaign_week_list(cleaned, week)


def metrics_over_weeks(cleaned: Cleaned, week: str, targets: dict | None = None,
                       overdue_days: int | None = None) -> pd.DataFrame:
    """Return the metrics history: the metrics table of every campaign week up to ``week``, stacked.

    This is the one computation behind every number the reports show: the batch runs it
    once and hands it to the notebooks; week W's rows are metrics.csv.
    """
    coded = _with_object_text(cleaned)
    return pd.concat([compute_metrics(coded, w, targets, overdue_days) for w in campaign_weeks(coded, week)],
                     ignore_index=True)


def _with_object_text(cleaned: Cleaned) -> Cleaned:
    """Return the tables with their text columns as NumPy object arrays (same values).

    Perf: pandas 3 keeps text in Arrow; each ``to_numpy()`` of it (community codes, household
    keys, outcomes, per table and per week) built a new object array again: at 20 communities
    x 3,000 households the history took 1.96 s, ~1.5 s with the key columns converted once,
    1.4 s with every text column. The copies live only while the history is computed.
    """
    def conv(df):
        if df is None:
            return None
        cols = {c: df[c].astype(object) for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)}
        return df.assign(**cols) if cols else df

    households, visits = conv(cleaned.households), conv(cleaned.visits)
    # Household keys as integers shared by the two tables: reached_households runs three times
    # a week (this week, the two before) and hashed 60,000 key strings each time (0.4 of 1.4 s).
    hk, vk = households["key"].to_numpy(), visits["key"].to_numpy()
    key_codes = pd.factorize(np.concatenate([hk, vk]))[0]
    households = households.assign(**{KEY_CODE: key_codes[:len(hk)]})
    visits = visits.assign(**{KEY_CODE: key_codes[len(hk):]})
    return Cleaned(households, visits, conv(cleaned.surveys), conv(cleaned.issues),
                   conv(cleaned.rejects), cleaned.files, list(cleaned.communities), cleaned.config,
                   conv(cleaned.activities), conv(cleaned.shops))


def week_rows(history: pd.DataFrame, week: str) -> pd.DataFrame:
    """Return one week's rows of a metrics history (the metrics.csv table of that week)."""
    return history[history["week"] == week].reset_index(drop=True)
