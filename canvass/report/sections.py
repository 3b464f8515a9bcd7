"""HTML fragments, one per report section, that notebooks display (whole pages: ``pages.py``).

Each function picks what its section shows from a view (``views.py``) and renders
``templates/sections/<name>.html.j2`` with autoescape: free text (already masked in the
view) is escaped by the template, never by hand. Views hold aggregates only.
"""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from canvass import credibility
from canvass.campaign import PROBLEM_COLUMNS
from canvass.pace import FULL, NO_PACE
from canvass.report import charts, narrative
from canvass.report.staff_lists import PROBLEM_TEXT, ROLE_TEXT
from canvass.report.templating import delta, render
from canvass.report.views import CommunityView, DigestView
from canvass.vocab import LOW_SAMPLE, METRIC_FIELDS, RATE_KEYS, RATE_LABELS


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def rate_figure(row: pd.Series, key: str, prev: pd.Series | None = None, scope: str = "cum") -> dict:
    """Return what a rate cell or card shows: rate, interval, sample size, status, change since last week."""
    if key == "coverage":
        rate, low, high, n, status = (row["coverage_cum"], row["coverage_cum_low"], row["coverage_cum_high"],
                                      row["households"], row["coverage_status"])
        previous = prev["coverage_cum"] if prev is not None else None
    else:
        rate, low, high, n, status = (row[f"{key}_rate_{scope}"], row[f"{key}_rate_{scope}_low"],
                                      row[f"{key}_rate_{scope}_high"], row[f"{key}_n_{scope}"], row[f"{key}_status"])
        previous = prev[f"{key}_rate_{scope}"] if prev is not None else None
    credible = row.get(f"{key}_rate_credible_cum") if scope == "cum" else None
    return {"key": key, "label": RATE_LABELS[key], "rate": rate, "low": low, "high": high, "n": int(n),
            "status": status, "has_rate": not pd.isna(rate),
            "low_sample": key != "coverage" and int(n) < LOW_SAMPLE,
            "delta": delta(rate, previous) if prev is not None else "",
            "credible": credible, "credible_drop": key in narrative.credible_drops(row)}


def _figures(row: pd.Series, prev: pd.Series | None = None) -> list[dict]:
    return [rate_figure(row, k, prev) for k in RATE_KEYS]


# --- a community's report ------------------------------------------------------------------

def community_title(view: CommunityView, digest_href: str | None = "../digest.html") -> str:
    """Return the report's title block with the week's dates and a link back to the digest."""
    return render("sections/community_title.html.j2", view=view, digest_href=digest_href,
                  partial_until=getattr(view, "partial_until", None))


def community_headline(view: CommunityView) -> str:
    """Return the headline: cumulative rates against targets, and this week's work."""
    return render("sections/community_headline.html.j2", view=view, figures=_figures(view.row))


def community_grids(view: CommunityView) -> str:
    """Return the per-grid table, each grid's coverage drawn as a bar."""
    return render("sections/community_grids.html.j2", view=view, grids=_records(view.grids))


def community_buildings(view: CommunityView) -> str:
    """Return coverage by building as a heat table (building level only)."""
    b = view.buildings
    rows = _records(b.assign(band=(b["coverage"].astype(float) * 10).astype(int).clip(upper=10))) if len(b) else []
    return render("sections/community_buildings.html.j2", buildings=rows)


def community_trends(view: CommunityView) -> str:
    """Return the weekly trend charts and table (coverage continued, dashed, at the current pace)."""
    t = view.trend
    return render("sections/community_trends.html.j2", trend=_records(t),
                  rates_chart=Markup(charts.trend_chart(t, "累计覆盖率与各项比率",
                                                        assessment_date=getattr(view, "assessment_date", None),
                                                        projection=True)),
                  visits_chart=Markup(charts.weekly_bars(t, "每周走访与入户次数")))


def community_issues(view: CommunityView) -> str:
    """Return issues by category and status, and the latest open issues (masked)."""
    return render("sections/community_issues.html.j2", view=view, issues=_records(view.issues),
                  recent=_records(view.recent_issues))


def community_quality(view: CommunityView) -> str:
    """Return the community's data-quality summary: rejected rows by reason."""
    return render("sections/quality.html.j2", rows=_records(view.quality), columns={"说明": "原因", "rows": "行数"},
                  status_rows=[], status_columns={}, gaps=getattr(view, "gaps", []))


def method_note(view: CommunityView | DigestView) -> str:
    """Return the 口径说明: how each number is computed, with this run's targets, overdue days and
    credibility thresholds."""
    from canvass.config import DEFAULT_CREDIBILITY

    settings = getattr(view, "credibility", None) or DEFAULT_CREDIBILITY
    flags = [{"label": credibility.FLAG_TEXT[f], "help": credibility.FLAG_HELP[f].format(**settings)}
             for f in credibility.FLAGS]
    return render("sections/method_note.html.j2", targets=view.targets, overdue_days=view.overdue_days,
                  flags=flags, gap=credibility.CREDIBLE_GAP, assessment_date=getattr(view, "assessment_date", None))


# --- sections 10-12 for one community ----------------------------------------------------------

def _pace_row(r) -> dict:
    """Return what a pace row shows: remaining, projection text, days left, per day, on-track mark."""
    on = str(r.get("on_track", ""))
    return {"remaining": int(r["remaining"]), "new": int(r["new_reached_week"]), "text": r["pace_text"],
            "full": r["pace_text"] == FULL, "no_pace": r["pace_text"] == NO_PACE,
            "days_left": "" if pd.isna(r.get("days_left")) else int(r["days_left"]),
            "needed": "" if pd.isna(r.get("needed_per_day")) else int(r["needed_per_day"]),
            "on_track": on, "mark": {"true": "✓", "false": "×"}.get(on, "")}


def community_pace(view: CommunityView) -> str:
    """Return the pace to 不漏一户 for the community and per grid not yet full, most households left first."""
    by_left = view.grid_pace.sort_values("remaining", ascending=False, kind="stable")  # the grids to go to first
    grids = [{"grid_label": g["grid_label"], **_pace_row(g)} for g in _records(by_left) if g["remaining"] > 0]
    return render("sections/pace.html.j2", scope="community", rows=[{"name": view.community, "total": False, **_pace_row(view.row)}],
                  grids=grids, assessment_date=view.assessment_date)


def _credibility_rows(rows: list, targets: dict, links: dict | None = None) -> list[dict]:
    out = []
    for r in rows:
        changes = narrative.credible_status_changes(r, targets)
        rates = []
        for x in METRIC_FIELDS:
            rates.append({"key": x, "label": RATE_LABELS[x], "rate": r[f"{x}_rate_cum"],
                          "credible": r[f"{x}_rate_credible_cum"], "status": r[f"{x}_status"],
                          "change": changes.get(x), "drop": x in narrative.credible_drops(r)})
        out.append({"name": r["community"], "total": r["scope"] != "community",
                    "link": (links or {}).get(r["community"]) if r["scope"] == "community" else None,
                    "flagged_week": int(r["flagged_week"]), "returns_week": int(r["returns_week"]),
                    "flagged_cum": int(r["flagged_cum"]), "returns_cum": int(r["returns_cum"]),
                    "share_week": r["flagged_week"] / r["returns_week"] if r["returns_week"] else None,
                    "share_cum": r["flagged_cum"] / r["returns_cum"] if r["returns_cum"] else None,
                    "rates": rates})
    return out


def _checkable_rows(checkable: dict, communities: list) -> list[dict]:
    return [{"name": c, "flags": [{"label": credibility.FLAG_TEXT[f], "ok": checkable.get(c, {}).get(f, False)}
                                  for f in credibility.FLAGS]} for c in communities]


def community_credibility(view: CommunityView) -> str:
    """Return the 问卷可信度 section: flagged returns, credible rates, counts by flag and by role."""
    flags = _records(view.flags_by_flag) if view.flags_by_flag is not None else []
    roles = _records(view.flags_by_role) if view.flags_by_role is not None else []
    return render("sections/credibility.html.j2", rows=_credibility_rows([view.row], view.targets),
                  checkable=_checkable_rows(view.checkable, [view.community]), by_flag=flags, by_role=roles,
                  gap=credibility.CREDIBLE_GAP)


def community_activities(view: CommunityView) -> str:
    """Return 志愿服务 for the community ('' without activities/)."""
    if not view.has_activities:
        return ""
    return render("sections/activities.html.j2", rows=[_activity_row(view.row)], weeks=view.cleanup_weeks,
                  strips=[{"name": view.community, "had": view.cleanups.get(view.community, [])}])


def community_shops(view: CommunityView) -> str:
    """Return 门前三包 for the community with its shops' open violations ('' without shops/)."""
    if not view.has_shops:
        return ""
    return render("sections/shops.html.j2", rows=[_shop_row(view.row)], problems=_problem_rows([view.row]),
                  shops=_records(view.shops) if view.shops is not None else [], listing=True)


def community_roles(view: CommunityView) -> str:
    """Return this week's visits by the visitor's role."""
    return render("sections/roles.html.j2", rows=[_role_row(view.row)], roles=ROLE_TEXT)


def _activity_row(r) -> dict:
    return {"name": r["community"], "total": r["scope"] != "community", "activities": int(r["activities_week"]),
            "cleanups": int(r["cleanups_week"]), "turnout": int(r["turnout_week"]),
            "party": int(r["party_turnout_week"]), "hours": float(r["volunteer_hours_week"]),
            "spots": int(r["spots_cleaned_week"]), "cleanup_weeks": int(r["cleanup_weeks"]),
            "campaign_weeks": int(r["campaign_weeks"])}


def _shop_row(r) -> dict:
    return {"name": r["community"], "total": r["scope"] != "community", "known": int(r["shops_known"]),
            "inspected": int(r["shops_inspected_week"]), "inspections": int(r["inspections_week"]),
            "pass": r["inspection_pass_week"], "signed": r["shops_signed_rate"],
            "open": int(r["violations_open"]), "overdue": int(r["violations_overdue"]),
            "enforcement": int(r["enforcement_week"])}


def _problem_rows(rows) -> list[dict]:
    out = []
    for r in rows:
        kinds = [f"{PROBLEM_TEXT[k]} {int(r[c])}" for k, c in PROBLEM_COLUMNS.items() if int(r[c]) > 0]
        out.append({"name": r["community"], "total": r["scope"] != "community", "kinds": "、".join(kinds) or "无"})
    return out


def _role_row(r) -> dict:
    return {"name": r["community"], "total": r["scope"] != "community",
            **{k: int(r[f"visits_week_{k}"]) for k in ROLE_TEXT}, "visits": int(r["visits_week"])}


# --- the digest ------------------------------------------------------------------------------

def _pooled(view: DigestView) -> pd.Series:
    return view.metrics[view.metrics["scope"] == "subdistrict"].iloc[0]


def digest_title(view: DigestView) -> str:
    """Return the digest's title block: sub-district, week dates, and whether the week is still running."""
    return render("sections/digest_title.html.j2", view=view, partial_until=getattr(view, "partial_until", None))


def digest_summary(view: DigestView) -> str:
    """Return the week in three parts (本周工作 → 存在问题 → 下步打算), from ``narrative.week_summary``."""
    return render("sections/digest_summary.html.j2",
                  parts=narrative.week_summary(view.metrics, view.grid_pace).parts())


def digest_pace(view: DigestView) -> str:
    """Return the pace to 不漏一户 per community (section 12)."""
    rows = [{"name": r["community"], "total": r["scope"] != "community", **_pace_row(r)}
            for r in _records(view.metrics)]
    return render("sections/pace.html.j2", scope="digest", rows=rows, grids=[], assessment_date=view.assessment_date)


def digest_credibility(view: DigestView) -> str:
    """Return 问卷可信度 per community: flagged shares, credible rates, status changes, what could be checked."""
    communities = list(view.metrics.loc[view.metrics["scope"] == "community", "community"])
    return render("sections/credibility.html.j2", rows=_credibility_rows(_records(view.metrics), view.targets,
                                                                          view.links),
                  checkable=_checkable_rows(view.checkable, communities), by_flag=[], by_role=[],
                  gap=credibility.CREDIBLE_GAP)


def digest_activities(view: DigestView) -> str:
    """Return 志愿服务 per community with the cleanup-week strip ('' without activities/)."""
    if not view.has_activities:
        return ""
    rows = _records(view.metrics)
    return render("sections/activities.html.j2", rows=[_activity_row(r) for r in rows], weeks=view.cleanup_weeks,
                  strips=[{"name": c, "had": had} for c, had in view.cleanups.items()])


def digest_shops(view: DigestView) -> str:
    """Return 门前三包 per community ('' without shops/)."""
    if not view.has_shops:
        return ""
    rows = _records(view.metrics)
    return render("sections/shops.html.j2", rows=[_shop_row(r) for r in rows], problems=_problem_rows(rows),
                  shops=[], listing=False)


def digest_roles(view: DigestView) -> str:
    """Return this week's visits by the visitor's role, per community."""
    return render("sections/roles.html.j2", rows=[_role_row(r) for r in _records(view.metrics)], roles=ROLE_TEXT)


def digest_headline(view: DigestView) -> str:
    """Return the pooled headline and the failed communities, if any."""
    pooled = _pooled(view)
    failed = {c: o for c, o in view.outcomes.items() if o.get("status") == "failed"}
    return render("sections/digest_headline.html.j2", view=view, p=pooled, figures=_figures(pooled), failed=failed)


def digest_table(view: DigestView) -> str:
    """Return communities × metrics with status colours, change since last week and intervals."""
    prev = view.prev.set_index("community") if view.prev is not None else None
    rows = []
    for _, r in view.metrics.iterrows():  # one row per community
        name = r["community"]
        p = prev.loc[name] if prev is not None and name in prev.index else None
        community = r["scope"] == "community"
        rows.append({"name": name, "link": view.links.get(name) if community else None,
                     "failed": view.outcomes.get(name, {}).get("status") == "failed",
                     "total": not community, "figures": _figures(r, p)})
    return render("sections/digest_table.html.j2", rows=rows)


def digest_trends(view: DigestView) -> str:
    """Return trend charts: pooled rates, and coverage per community."""
    pooled = view.trends[view.trends["scope"] == "subdistrict"].reset_index(drop=True)
    comm = view.trends[view.trends["scope"] == "community"]
    return render("sections/digest_trends.html.j2",
                  rates_chart=Markup(charts.trend_chart(pooled, "全街道累计比率")),
                  coverage_chart=Markup(charts.coverage_lines(comm, "各社区覆盖率")))


def furthest_from_target(metrics: pd.DataFrame, targets: dict) -> list[dict]:
    """Return, per rate, the community furthest below its target (gap in points, or 已达标)."""
    m = metrics[metrics["scope"] == "community"]
    gaps = []
    for k in RATE_KEYS:
        col = "coverage_cum" if k == "coverage" else f"{k}_rate_cum"
        rates = pd.to_numeric(m[col], errors="coerce")
        if rates.notna().any():
            i = rates.idxmin()
            gap = (targets[k] - rates[i]) * 100
            name = m.loc[i, "community"]
            # When even the lowest meets the target, no community is "furthest from" it: say so.
            gaps.append({"metric": RATE_LABELS[k], "community": name if gap > 0 else f"各社区均已达标（最低 {name}）",
                         "rate": rates[i], "target": targets[k], "gap": f"{gap:.1f}" if gap > 0 else "—"})
    return gaps


def digest_behind(view: DigestView) -> str:
    """Return where the sub-district is behind: lowest grids and buildings, furthest communities."""
    g = view.grids.sort_values(["coverage", "households"], ascending=[True, False]).head(8)
    b = view.buildings.sort_values(["coverage", "households"], ascending=[True, False]).head(8)
    return render("sections/digest_behind.html.j2", gaps=furthest_from_target(view.metrics, view.targets),
                  grids=_records(g), buildings=_records(b.assign(building=b["building"].astype(str) + "号楼")))


def digest_issues(view: DigestView) -> str:
    """Return residents' issues for the sub-district, by category and by community."""
    return render("sections/digest_issues.html.j2", view=view, issues=_records(view.issues), pooled=_pooled(view),
                  by_community=_records(view.metrics))


def _quality_by_community(quality: pd.DataFrame) -> list[dict]:
    rows = []
    for community, grp in quality.groupby("community", sort=False):
        top = "；".join(f"{r['说明']} {int(r['rows'])}" for r in grp.head(3).to_dict("records"))
        more = f"；其他 {int(grp['rows'].iloc[3:].sum())}" if len(grp) > 3 else ""
        rows.append({"community": community or "（社区名称无法识别）", "rows": int(grp["rows"].sum()),
                     "reasons": top + more})
    return rows


def _report_status(view: DigestView) -> tuple[list[dict], dict]:
    m = view.metrics[view.metrics["scope"] == "community"]
    rows = []
    for name, rejected in zip(m["community"], m["rejected_rows"]):
        o = view.outcomes.get(name, {})
        label = {"ok": "已生成", "reused": "已生成（沿用）", "failed": "失败"}.get(o.get("status", ""), "—")
        rows.append({"community": name, "status": label, "error": o.get("error", ""), "rows": int(rejected)})
    columns = {"community": "社区", "status": "报告", "rows": "剔除行数"}
    if any(r["error"] != "" for r in rows):
        columns["error"] = "失败原因"
    return rows, columns


def digest_quality(view: DigestView) -> str:
    """Return data quality per community and the report status of each community."""
    status_rows, status_columns = _report_status(view) if view.outcomes else ([], {})
    return render("sections/quality.html.j2", rows=_quality_by_community(view.quality),
                  columns={"community": "社区", "rows": "剔除行数", "reasons": "主要原因（行数）"},
                  status_rows=status_rows, status_columns=status_columns, gaps=getattr(view, "gaps", []))


def digest_links(view: DigestView) -> str:
    """Return links to each community report (work when the whole week folder is shared)."""
    return render("sections/digest_links.html.j2", links=view.links)
