"""The campaign beyond the doorstep, counted per community (contract sections 10, 11 and 12).

Questionnaire credibility (flagged returns, credible rates), volunteer activities, shop
inspections (门前三包), who visits, and the pace to 不漏一户. Each function returns
numpy count arrays per community in display order; ``metrics.metrics_table`` turns them
into metrics.csv's columns, so every report reads them from one place.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from canvass import credibility
from canvass.vocab import METRIC_FIELDS
from canvass.weeks import week_bounds, week_label, weeks_between

CREDIBILITY_COLUMNS = ["flagged_week", "flagged_cum"] + [f"{x}_rate_credible_cum" for x in METRIC_FIELDS]
ACTIVITY_COLUMNS = ["activities_week", "cleanups_week", "turnout_week", "turnout_cum", "party_turnout_week",
                    "volunteer_hours_week", "spots_cleaned_week", "cleanup_weeks", "campaign_weeks"]
PROBLEM_COLUMNS = {"street_occupation": "occupation_week", "parking": "parking_week", "clutter": "clutter_week",
                   "hygiene": "hygiene_week", "posting": "posting_week", "other": "problem_other_week"}
SHOP_COLUMNS = ["shops_known", "shops_inspected_week", "inspections_week", "inspection_pass_week",
                "shops_signed_rate", "violations_open", "violations_overdue", "enforcement_week",
                *PROBLEM_COLUMNS.values()]
ROLES = ("staff", "building_leader", "party_member", "volunteer", "other")
ROLE_COLUMNS = [f"visits_week_{r}" for r in ROLES] + ["materials_cum"]
PACE_COLUMNS = ["new_reached_week", "remaining", "projected_full", "days_left", "needed_per_day", "on_track"]


def codes(values, order: list) -> np.ndarray:
    """Return integer community codes in display order (-1 for anything else)."""
    return pd.Index(order).get_indexer(pd.Index(values)).astype(np.int64)


def counter(k: int):
    """Return count(codes, mask, weights): per-community sums, whole numbers unless ``fractional``."""
    def count(c, mask=None, weights=None, fractional=False):
        c = c if mask is None else c[mask]
        w = None if weights is None else (weights if mask is None else weights[mask])
        ok = c >= 0
        sums = np.bincount(c[ok], weights=None if w is None else w[ok], minlength=k)[:k]
        return sums.astype(np.float64) if fractional else np.rint(sums).astype(np.int64)
    return count


def as_of(dates: pd.Series, week: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (dated on or before W's Sunday, dated in W) masks for a date column."""
    monday, sunday = (pd.Timestamp(d).to_datetime64() for d in week_bounds(week))
    d = dates.to_numpy(dtype="datetime64[ns]")
    cum = d <= sunday
    return cum, cum & (d >= monday)


def first_week(cleaned, week: str) -> str:
    """Return the campaign's first week: ``campaign_start``, else the week of the first dated visit as of W."""
    if cleaned.config.campaign_start is not None:
        return week_label(cleaned.config.campaign_start)
    sunday = pd.Timestamp(week_bounds(week)[1])
    dates = cleaned.visits["date"]
    dates = dates[dates <= sunday]
    return week_label(dates.min().date()) if len(dates) else week


# --- section 10 ---------------------------------------------------------------------------------

def credibility_counts(cleaned, week: str, standing: np.ndarray) -> dict:
    """Return flagged returns (week, cum) and the credible numerators/denominators per community."""
    order = list(cleaned.communities)
    count = counter(len(order))
    s = cleaned.surveys
    monday = pd.Timestamp(week_bounds(week)[0])
    returns = s[standing]
    flags = credibility.flag_returns(returns, cleaned.config.credibility)
    flagged = np.zeros(len(s), bool)
    flagged[np.flatnonzero(standing)] = flags.any(axis=1).to_numpy()
    sc = codes(s["community"], order)
    week_mask = standing & (s["date"] >= monday).to_numpy()
    out = {"flagged_week": count(sc, week_mask & flagged), "flagged_cum": count(sc, standing & flagged)}
    credible = standing & ~flagged
    for x in METRIC_FIELDS:
        a = s[x].to_numpy()
        out[f"{x}_pos_credible_cum"] = count(sc, credible & (a == 1))
        out[f"{x}_n_credible_cum"] = count(sc, credible & ((a == 1) | (a == 0)))
    return out


# --- section 11: activities ---------------------------------------------------------------------

def activity_counts(cleaned, week: str) -> dict:
    """Return the activity counts per community, and the pooled cleanup-week count under ``_pooled``."""
    order = list(cleaned.communities)
    k = len(order)
    count = counter(k)
    a = cleaned.activities
    cum, wk = as_of(a["date"], week)
    ac = codes(a["community"], order)
    cleanup = (a["kind"] == "cleanup").to_numpy()
    out = {
        "activities_week": count(ac, wk), "cleanups_week": count(ac, wk & cleanup),
        "turnout_week": count(ac, wk, a["participants"].to_numpy(float)),
        "turnout_cum": count(ac, cum, a["participants"].to_numpy(float)),
        "party_turnout_week": count(ac, wk, a["party_members"].to_numpy(float)),
        "volunteer_hours_week": count(ac, wk, a["hours"].to_numpy(float), fractional=True),
        "spots_cleaned_week": count(ac, wk, a["spots"].to_numpy(float)),
    }
    weeks = campaign_week_list(cleaned, week)
    had = cleanup_matrix(cleaned, weeks)  # communities × weeks
    out["cleanup_weeks"] = had.sum(axis=1)
    out["campaign_weeks"] = np.full(k, len(weeks))
    out["_pooled"] = {"cleanup_weeks": int(had.all(axis=0).sum()) if k else 0, "campaign_weeks": len(weeks)}
    return out


def campaign_week_list(cleaned, week: str) -> list[str]:
    """Return the ISO weeks from the campaign's first week to W (just W when it starts later)."""
    first = first_week(cleaned, week)
    if week_bounds(first)[0] > week_bounds(week)[0]:
        return [week]
    return weeks_between(first, week)


def cleanup_matrix(cleaned, weeks: list[str]) -> np.ndarray:
    """Return communities × weeks: True where the community had at least one cleanup that week."""
    order = list(cleaned.communities)
    a = cleaned.activities
    a = a[a["kind"] == "cleanup"]
    labels = a["date"].map(lambda x: week_label(x.date())) if len(a) else pd.Series(dtype=object)
    index = {w: i for i, w in enumerate(weeks)}
    had = np.zeros((len(order), len(weeks)), bool)
    ci = codes(a["community"], order)
    wi = np.array([index.get(w, -1) for w in labels], dtype=np.int64)
    ok = (ci >= 0) & (wi >= 0)
    had[ci[ok], wi[ok]] = True
    return had


# --- section 11: shops --------------------------------------------------------------------------

def shop_counts(cleaned, week: str) -> dict:
    """Return the shop inspection counts per community (rates as numerator/denominator pairs)."""
    order = list(cleaned.communities)
    count = counter(len(order))
    s = cleaned.shops
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    s = s[s["date"] <= sunday]
    wk = (s["date"] >= monday).to_numpy()
    sc = codes(s["community"], order)
    out = {"inspections_week": count(sc, wk), "inspection_pass_num": count(sc, wk & (s["result"] == "pass").to_numpy())}
    shops = s.drop_duplicates("shop_key")
    out["shops_known"] = count(codes(shops["community"], order))
    out["shops_inspected_week"] = count(codes(s.loc[wk].drop_duplicates("shop_key")["community"], order))
    latest = s.sort_values(["date", "order"], kind="stable").drop_duplicates("shop_key", keep="last")
    signed = s[s["signed"] != "unknown"].sort_values(["date", "order"], kind="stable").drop_duplicates("shop_key", keep="last")
    out["shops_signed_num"] = count(codes(signed.loc[signed["signed"] == "yes", "community"], order))
    failing = latest[latest["result"] == "fail"]
    out["violations_open"] = count(codes(failing["community"], order))
    overdue = failing["deadline"].notna() & (failing["deadline"] < sunday)
    out["violations_overdue"] = count(codes(failing.loc[overdue, "community"], order))
    out["enforcement_week"] = count(sc, wk & (s["action"] == "enforcement").to_numpy())
    fail_week = wk & (s["result"] == "fail").to_numpy()
    problems = s["problems"].astype(str)
    for kind, col in PROBLEM_COLUMNS.items():
        names = problems.map(lambda p, k=kind: k in p.split(";")).to_numpy(dtype=bool)
        out[col] = count(sc, fail_week & names)
    return out


# --- section 11: who visits ---------------------------------------------------------------------

def role_counts(cleaned, week: str) -> dict:
    """Return visits in W by the visitor's role, and materials handed out as of W."""
    order = list(cleaned.communities)
    count = counter(len(order))
    v = cleaned.visits
    cum, wk = as_of(v["date"], week)
    vc = codes(v["community"], order)
    role = v["role"].to_numpy() if "role" in v else np.full(len(v), "other", dtype=object)
    out = {f"visits_week_{r}": count(vc, wk & (role == r)) for r in ROLES}
    out["materials_cum"] = count(vc, cum, v["materials"].to_numpy(float))
    return out


def assessment_date(cleaned) -> dt.date | None:
    return cleaned.config.assessment_date


# --- one place that adds sections 10–12 to the metrics ------------------------------------------

def count_columns(cleaned) -> list[str]:
    """Return the extra count columns ``metrics.metric_counts`` adds for this data folder."""
    cols = ["flagged_week", "flagged_cum"]
    cols += [f"{x}_{k}_credible_cum" for x in METRIC_FIELDS for k in ("pos", "n")]
    if cleaned.activities is not None:
        cols += ACTIVITY_COLUMNS
    if cleaned.shops is not None:
        cols += [c for c in SHOP_COLUMNS if c not in ("inspection_pass_week", "shops_signed_rate")]
        cols += ["inspection_pass_num", "shops_signed_num"]
    cols += ROLE_COLUMNS + ["reached_prev", "reached_prev2"]
    return cols


def campaign_counts(cleaned, week: str, standing: np.ndarray) -> dict:
    """Return every section 10–12 count per community (plus pooled specials under ``_pooled``)."""
    from canvass.metrics import reached_households  # the one definition of reached

    out = credibility_counts(cleaned, week, standing)
    out.update(role_counts(cleaned, week))
    pooled: dict = {}
    if cleaned.activities is not None:
        a = activity_counts(cleaned, week)
        pooled.update(a.pop("_pooled"))
        out.update(a)
    if cleaned.shops is not None:
        out.update(shop_counts(cleaned, week))
    order = list(cleaned.communities)
    count = counter(len(order))
    hc = codes(cleaned.households["community"], order)
    prev, prev2 = previous_weeks(week)
    for name, w in (("reached_prev", prev), ("reached_prev2", prev2)):
        sunday = pd.Timestamp(week_bounds(w)[1])
        out[name] = count(hc, reached_households(cleaned.households, cleaned.visits, sunday))
    out["_pooled"] = pooled
    return out


def previous_weeks(week: str) -> tuple[str, str]:
    monday = week_bounds(week)[0]
    return week_label(monday - dt.timedelta(days=7)), week_label(monday - dt.timedelta(days=14))


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def campaign_columns(c: dict, pooled: dict, week: str, first: str, assessment: dt.date | None) -> dict:
    """Return sections 10, 11 and 12's metrics.csv columns (in the contract's order) from pooled counts.

    ``c`` maps a count column to its per-community values with the pooled sum appended.
    """
    from canvass.pace import pace_table

    t: dict = {"flagged_week": c["flagged_week"], "flagged_cum": c["flagged_cum"]}
    for x in METRIC_FIELDS:
        t[f"{x}_rate_credible_cum"] = _ratio(c[f"{x}_pos_credible_cum"], c[f"{x}_n_credible_cum"])
    if "activities_week" in c:
        for col in ACTIVITY_COLUMNS:
            t[col] = c[col].copy()
        t["cleanup_weeks"][-1] = pooled.get("cleanup_weeks", 0)
        t["campaign_weeks"][-1] = pooled.get("campaign_weeks", 0)
    if "shops_known" in c:
        for col in SHOP_COLUMNS:
            if col == "inspection_pass_week":
                t[col] = _ratio(c["inspection_pass_num"], c["inspections_week"])
            elif col == "shops_signed_rate":
                t[col] = _ratio(c["shops_signed_num"], c["shops_known"])
            else:
                t[col] = c[col]
    for col in ROLE_COLUMNS:
        t[col] = c[col]
    prev, prev2 = previous_weeks(week)
    pace = pace_table(c["households"], {week: c["reached_cum"], prev: c["reached_prev"], prev2: c["reached_prev2"]},
                      week, first, assessment)
    for col in PACE_COLUMNS:
        t[col] = pace[col].to_numpy()
    t["pace_text"] = pace["pace_text"].to_numpy()
    return t


def contract_columns(table: pd.DataFrame) -> list[str]:
    """Return the columns sections 10–12 add to metrics.csv that this table has, in order."""
    order = CREDIBILITY_COLUMNS + ACTIVITY_COLUMNS + SHOP_COLUMNS + ROLE_COLUMNS + PACE_COLUMNS
    return [col for col in order if col in table.columns]
