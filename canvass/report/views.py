"""What a report shows, as data: per-community and sub-district views of one week.

Views hold aggregates only (counts and rates by grid, building, category): no names,
phones or addresses below building level. Free text is masked before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from canvass.ingest.clean import Cleaned
from canvass.metrics import issue_state, reached_households, week_rows, week_view
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


def rejects_by_reason(rejects: pd.DataFrame) -> pd.DataFrame:
    """Return W's rejected rows counted by community and reason (with the Chinese wording)."""
    if rejects.empty:
        return pd.DataFrame(columns=["community", "reason", "说明", "rows"])
    g = rejects.groupby(["community", "reason"]).size().rename("rows").reset_index()
    g["说明"] = g["reason"].map(reason_text)
    return g.sort_values(["community", "rows"], ascending=[True, False]).reset_index(drop=True)


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


def community_view(cleaned: Cleaned, community: str, week: str, targets: dict, history: pd.DataFrame,
                   overdue_days: int | None = None, sample_data: bool = False) -> CommunityView:
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
    return CommunityView(
        community=community, subdistrict=cleaned.config.name, week=week, targets=targets,
        overdue_days=overdue, row=row, prev=prev, trend=trend,
        grids=grid_coverage(c, sunday, monday), buildings=building_coverage(c, sunday),
        issues=issues_by_category(c, sunday, overdue, cleaned.config.issue_categories),
        quality=rejects_by_reason(view_w.rejects), recent_issues=recent_open_issues(c, sunday, masker),
        comments=comment_texts, sample_data=sample_data)


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


def digest_view(cleaned: Cleaned, week: str, targets: dict, history: pd.DataFrame, overdue_days: int | None = None,
                outcomes: dict | None = None, links: dict | None = None, sample_data: bool = False) -> DigestView:
    """Return the sub-district digest view of week W (every community; numbers from ``history``)."""
    overdue = cleaned.config.overdue_days if overdue_days is None else overdue_days
    monday, sunday = (pd.Timestamp(d) for d in week_bounds(week))
    trends = history[history["week"] <= week].reset_index(drop=True)
    weeks = list(dict.fromkeys(trends["week"]))
    prev = week_rows(trends, weeks[-2]) if len(weeks) > 1 else None
    return DigestView(
        subdistrict=cleaned.config.name, week=week, targets=targets, overdue_days=overdue,
        metrics=week_rows(trends, week), prev=prev, trends=trends, grids=grid_coverage(cleaned, sunday, monday),
        buildings=building_coverage(cleaned, sunday),
        issues=issues_by_category(cleaned, sunday, overdue, cleaned.config.issue_categories),
        quality=rejects_by_reason(week_view(cleaned, week).rejects),
        outcomes=outcomes or {}, links=links or {}, sample_data=sample_data)
