"""What a report shows, as data: per-community and sub-district views of one week.

Views hold aggregates only (counts and rates by grid, building, category): no names,
phones or addresses below building level. Free text is masked before it is kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from canvass import campaign, credibility
from canvass.config import DEFAULT_CREDIBILITY
from canvass.ingest.check import rate_gaps
from canvass.ingest.clean import Cleaned
from canvass.metrics import (
    issue_state,
    partial_week_until,
    reached_households,
    week_rows,
    week_view,
    week_without_data,
)
from canvass.pace import pace_table, previous_week
from canvass.privacy import FreeTextMasker
from canvass.vocab import HANDLING_LABELS, reason_text
from canvass.weeks import week_bounds


def grid_coverage(cleaned: Cleaned, sunday: pd.Timestamp, monday: pd.Timestamp) -> pd.DataFrame:
    """Return coverage per (community, grid) as of W, with visits this week."""
    h = cleaned.households
    occ = h[h["occupied"].astype(bool)].copy()
    occ["reached"] = reached_households(occ, cleaned.visits, sunday)
    g = occ.groupby(["community", "grid", "grid_label"], sort=False).agg(
        households=("key", "size"), reached=("reached", "sum")).reset_index()
    v = cleaned.visits
    wk = v[(v["date"] >= monday) & (v["date"] <= sunday)].merge(h[["key", "grid"]], on="key", how="left")
    g = g.merge(wk.groupby(["community", "grid"]).size().rename("visits_week").reset_index(),
                on=["community", "grid"], how="left")
    g["visits_week"] = g["visits_week"].fillna(0).astype(int)
    g["coverage"] = g["reached"] / g["households"]
    g["_num"] = pd.to_numeric(g["grid"], errors="coerce")
    return g.sort_values(["community", "_num", "grid"], key=None).drop(columns="_num").reset_index(drop=True)


def building_coverage(cleaned: Cleaned, sunday: pd.Timestamp) -> pd.DataFrame:
    """Return coverage per (community, grid, building) as of W — building level only."""
    h = cleaned.households
    occ = h[h["occupied"].astype(bool)].copy()
    occ["reached"] = reached_households(occ, cleaned.visits, sunday)
    b = occ.groupby(["community", "grid_label", "building"], sort=False).agg(
        households=("key", "size"), reached=("reached", "sum")).reset_index()
    b["coverage"] = b["reached"] / b["households"]
    b["_n"] = pd.to_numeric(b["building"], errors="coerce")
    return b.sort_values(["community", "_n"]).drop(columns="_n").reset_index(drop=True)


def issues_by_category(cleaned: Cleaned, sunday: pd.Timestamp, overdue_days: int, categories) -> pd.DataFrame:
    """Return issues per category as of W: raised, resolved, open, overdue, escalated."""
    i = cleaned.issues
    state = issue_state(i, sunday, overdue_days)
    i = pd.DataFrame({"category": i["category"], "resolved_asof": state.resolved, "open": state.open,
                      "overdue": state.overdue, "escalated": i["handling"] == "escalated"})[state.raised]
    g = i.groupby("category").agg(raised=("open", "size"), resolved=("resolved_asof", "sum"),
                                  open=("open", "sum"), overdue=("overdue", "sum"),
                                  escalated=("escalated", "sum"))
    order = list(categories) + [c for c in g.index if c not in categories]
    g = g.reindex(order, fill_value=0).reset_index().rename(columns={"index": "category"})
    return g[g["raised"] > 0].reset_index(drop=True) if len(g) else g


def recent_open_issues(cleaned: Cleaned, sunday: pd.Timestamp, masker: FreeTextMasker, limit: int = 8) -> pd.DataFrame:
    """Return the latest issues open as of W (description masked), newest first."""
    i = cleaned.issues
    state = issue_state(i, sunday, 0)
    recent = i[state.open].sort_values("raised", ascending=False).head(limit)
    return pd.DataFrame({
        "raised": recent["raised"].dt.strftime("%m-%d"), "category": recent["category"],
        "description": masker.mask_series(recent["description"].astype(str)),
        "handling": recent["handling"].map(HANDLING_LABELS).fillna("—"),
        "days": (sunday - recent["raised"]).dt.days,
    })


def rejects_by_reason(rejects: pd.DataFrame, communities: list | None = None) -> pd.DataFrame:
    """Return W's rejected rows counted by community and reason (with the Chinese wording).

    With ``communities``, a row whose community cell names none of them counts under "" (shown
    as 社区名称无法识别): that cell is whatever the file held (a typo, or a resident's name and
    phone typed in the wrong column), and the digest is forwarded. The fix lists keep it.
    """
    if rejects.empty:
        return pd.DataFrame(columns=["community", "reason", "说明", "rows"])
    if communities is not None:
        rejects = rejects.assign(community=rejects["community"].where(rejects["community"].isin(communities), ""))
    g = rejects.groupby(["community", "reason"]).size().rename("rows").reset_index()
    g["说明"] = g["reason"].map(reason_text)
    return g.sort_values(["community", "rows"], ascending=[True, False]).reset_index(drop=True)


def grid_pace(cleaned: Cleaned, week: str, first_week: str) -> pd.DataFrame:
    """Return section 12's pace per (community, grid): reached for W, W−1, W−2 through ``pace.pace_table``.

    Grid rows are not in metrics.csv (contract section 12); this is their one computation.
    """
    h = cleaned.households
    occ = h[h["occupied"].astype(bool)]
    weeks = [week, previous_week(week), previous_week(week, 2)]
    frame = occ[["community", "grid", "grid_label"]].copy()
    for w in weeks:
        frame[w] = reached_households(occ, cleaned.visits, pd.Timestamp(week_bounds(w)[1]))
    g = frame.groupby(["community", "grid", "grid_label"], sort=False).agg(
        households=("grid", "size"), **{w: (w, "sum") for w in weeks}).reset_index()
    pace = pace_table(g["households"], {w: g[w].to_numpy() for w in weeks}, week, first_week,
                      cleaned.config.assessment_date)
    out = pd.concat([g[["community", "grid", "grid_label", "households"]], g[week].rename("reached"),
                     pace.drop(columns="weekly_rate")], axis=1)
    out["_num"] = pd.to_numeric(out["grid"], errors="coerce")
    return out.sort_values(["community", "_num", "grid"]).drop(columns="_num").reset_index(drop=True)


def flag_breakdown(cleaned: Cleaned, week: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return flagged returns by flag (this week, as of W) and by the collector's role, per community.

    The role is that of the visit to the same household on the same day
    (``staff_lists.collector_table``); aggregated by role only, never by name.
    """
    from canvass.report.staff_lists import ROLE_TEXT, collector_table, week_flags

    returns, flags = week_flags(cleaned, week)
    monday = pd.Timestamp(week_bounds(week)[0])
    in_week = (returns["date"] >= monday).to_numpy()
    rows = []
    for community in cleaned.communities:
        mine = (returns["community"] == community).to_numpy()
        for f in credibility.FLAGS:
            hit = flags[f].to_numpy(dtype=bool) & mine
            rows.append({"community": community, "flag": f, "label": credibility.FLAG_TEXT[f],
                         "week": int((hit & in_week).sum()), "cum": int(hit.sum())})
    by_flag = pd.DataFrame(rows, columns=["community", "flag", "label", "week", "cum"])
    if "role" in cleaned.visits and "visitor" in cleaned.visits:
        c = collector_table(cleaned, week)
        labels = [credibility.FLAG_TEXT[f] for f in credibility.FLAGS]
        by_role = c.groupby(["community", "role"], sort=False)[["flagged", *labels]].sum().reset_index()
        order = {t: i for i, t in enumerate(ROLE_TEXT.values())}
        by_role = by_role.sort_values(["community", "role"], key=lambda s: s.map(order) if s.name == "role" else s)
    else:
        by_role = pd.DataFrame(columns=["community", "role", "flagged"])
    return by_flag, by_role.reset_index(drop=True)


def checkable(files) -> dict:
    """Return community → {flag: True/False}: whether its survey files can raise each flag."""
    have = credibility.checkable_flags(files)
    return {c: {f: f in flags for f in credibility.FLAGS} for c, flags in have.items()}


def cleanup_strip(cleaned: Cleaned, week: str) -> tuple[list[str], dict]:
    """Return (campaign weeks, community → list of True/False per week: a cleanup that week)."""
    if cleaned.activities is None:
        return [], {}
    weeks = campaign.campaign_week_list(cleaned, week)
    had = campaign.cleanup_matrix(cleaned, weeks)
    return weeks, {c: [bool(x) for x in had[i]] for i, c in enumerate(cleaned.communities)}


def shop_violations(cleaned: Cleaned, community: str, week: str, masker: FreeTextMasker) -> pd.DataFrame:
    """Return a community's shops with open violations, overdue first; every text passes the masker."""
    from canvass.report.staff_lists import ACTION_TEXT, PROBLEM_TEXT, open_violations

    bad = open_violations(cleaned, community, week)
    problems = bad["problems"].astype(str).map(
        lambda p: "、".join(PROBLEM_TEXT.get(k, k) for k in p.split(";") if k))
    return pd.DataFrame({
        "shop": masker.mask_series(bad["shop"].astype(str)),
        "street": masker.mask_series(bad["street"].astype(str)) if "street" in bad else "",
        "date": bad["date"].dt.strftime("%m-%d"), "problems": problems,
        "action": bad["action"].map(ACTION_TEXT).fillna(""),
        "deadline": bad["deadline"].dt.strftime("%m-%d").fillna(""),
        "overdue": np.where(bad["overdue"].to_numpy(dtype=bool), "超期", ""),
    }).reset_index(drop=True)


@dataclass
class CommunityView:
    """Everything one community's report shows for week W."""

    community: str
    subdistrict: str
    week: str
    targets: dict
    overdue_days: int
    row: pd.Series
    prev: pd.Series | None
    trend: pd.DataFrame
    grids: pd.DataFrame
    buildings: pd.DataFrame
    issues: pd.DataFrame
    quality: pd.DataFrame
    recent_issues: pd.DataFrame
    comments: list = field(default_factory=list)
    sample_data: bool = False
    grid_pace: pd.DataFrame | None = None
    flags_by_flag: pd.DataFrame | None = None
    flags_by_role: pd.DataFrame | None = None
    checkable: dict = field(default_factory=dict)
    cleanup_weeks: list = field(default_factory=list)
    cleanups: dict = field(default_factory=dict)
    shops: pd.DataFrame | None = None  # open violations; None without shops/
    has_activities: bool = False
    has_shops: bool = False
    gaps: list = field(default_factory=list)
    partial_until: dt.date | None = None
    empty_week: str = ""  # metrics.week_without_data: why W has no visit or questionnaire
    credibility: dict = field(default_factory=lambda: dict(DEFAULT_CREDIBILITY))
    assessment_date: dt.date | None = None


def community_view(cleaned: Cleaned, community: str, week: str, targets: dict, history: pd.DataFrame,
                   overdue_days: int | None = None, sample_data: bool = False,
                   today: dt.date | None = None) -> CommunityView:
    """Return the view of one community for week W (``cleaned`` may hold only that community).

    Its numbers come from ``history`` (``metrics.metrics_over_weeks``), computed once per batch.
    """
    c = cleaned.community_slice(community) if len(cleaned.communities) > 1 else cleaned
    overdue = cleaned.config.overdue_days if overdue_days is None else overdue_days
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    trend = history[(history["scope"] == "community") & (history["community"] == community)
                    & (history["week"] <= week)].reset_index(drop=True)
    row = trend.iloc[-1]
    prev = trend.iloc[-2] if len(trend) > 1 else None
    masker = FreeTextMasker(c.households["name"])
    view_w = week_view(c, week)
    s = view_w.surveys
    comments = s[(s["comment"].astype(str) != "") & (s["date"] >= monday)].sort_values("submitted_at")
    comment_texts = [masker.mask(t) for t in comments["comment"].astype(str).tail(6)]
    by_flag, by_role = flag_breakdown(c, week)
    weeks, cleanups = cleanup_strip(c, week)
    return CommunityView(
        community=community, subdistrict=cleaned.config.name, week=week, targets=targets,
        overdue_days=overdue, row=row, prev=prev, trend=trend,
        grids=grid_coverage(c, sunday, monday), buildings=building_coverage(c, sunday),
        issues=issues_by_category(c, sunday, overdue, cleaned.config.issue_categories),
        quality=rejects_by_reason(view_w.rejects, [community]), recent_issues=recent_open_issues(c, sunday, masker),
        comments=comment_texts, sample_data=sample_data,
        grid_pace=grid_pace(c, week, str(trend["week"].min())),
        flags_by_flag=by_flag[by_flag["community"] == community].reset_index(drop=True),
        flags_by_role=by_role[by_role["community"] == community].reset_index(drop=True),
        checkable=checkable(cleaned.files), cleanup_weeks=weeks, cleanups=cleanups,
        shops=shop_violations(c, community, week, masker) if c.shops is not None else None,
        has_activities=c.activities is not None, has_shops=c.shops is not None,
        gaps=[g for g in rate_gaps(cleaned.files) if g["community"] == community],
        partial_until=partial_week_until(c, week, today), credibility=dict(cleaned.config.credibility),
        empty_week=week_without_data(c, week).replace("本周", "本社区本周", 1),
        assessment_date=cleaned.config.assessment_date)


@dataclass
class DigestView:
    """Everything the sub-district digest shows for week W."""

    subdistrict: str
    week: str
    targets: dict
    overdue_days: int
    metrics: pd.DataFrame
    prev: pd.DataFrame | None
    trends: pd.DataFrame
    grids: pd.DataFrame
    buildings: pd.DataFrame
    issues: pd.DataFrame
    quality: pd.DataFrame
    outcomes: dict
    links: dict
    sample_data: bool = False
    grid_pace: pd.DataFrame | None = None
    checkable: dict = field(default_factory=dict)
    cleanup_weeks: list = field(default_factory=list)
    cleanups: dict = field(default_factory=dict)
    has_activities: bool = False
    has_shops: bool = False
    gaps: list = field(default_factory=list)
    partial_until: dt.date | None = None
    empty_week: str = ""  # metrics.week_without_data: why W has no visit or questionnaire
    credibility: dict = field(default_factory=lambda: dict(DEFAULT_CREDIBILITY))
    assessment_date: dt.date | None = None
    district_href: str | None = None  # up to the district digest, when run as part of a district


def digest_view(cleaned: Cleaned, week: str, targets: dict, history: pd.DataFrame, overdue_days: int | None = None,
                outcomes: dict | None = None, links: dict | None = None, sample_data: bool = False,
                today: dt.date | None = None, district_href: str | None = None) -> DigestView:
    """Return the sub-district digest view of week W (every community; numbers from ``history``)."""
    overdue = cleaned.config.overdue_days if overdue_days is None else overdue_days
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    trends = history[history["week"] <= week].reset_index(drop=True)
    weeks = list(dict.fromkeys(trends["week"]))
    prev = week_rows(trends, weeks[-2]) if len(weeks) > 1 else None
    strip_weeks, cleanups = cleanup_strip(cleaned, week)
    return DigestView(
        subdistrict=cleaned.config.name, week=week, targets=targets, overdue_days=overdue,
        metrics=week_rows(trends, week), prev=prev, trends=trends, grids=grid_coverage(cleaned, sunday, monday),
        buildings=building_coverage(cleaned, sunday),
        issues=issues_by_category(cleaned, sunday, overdue, cleaned.config.issue_categories),
        quality=rejects_by_reason(week_view(cleaned, week).rejects, list(cleaned.communities)),
        outcomes=outcomes or {}, links=links or {}, sample_data=sample_data,
        checkable=checkable(cleaned.files), cleanup_weeks=strip_weeks,
        cleanups=cleanups, grid_pace=grid_pace(cleaned, week, weeks[0]), has_activities=cleaned.activities is not None,
        has_shops=cleaned.shops is not None, gaps=rate_gaps(cleaned.files),
        partial_until=partial_week_until(cleaned, week, today), credibility=dict(cleaned.config.credibility),
        empty_week=week_without_data(cleaned, week),
        assessment_date=cleaned.config.assessment_date, district_href=district_href)
