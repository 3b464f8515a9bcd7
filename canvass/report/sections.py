"""HTML fragments, one per report section, that notebooks display (whole pages: ``pages.py``).

Each function picks what its section shows from a view (``views.py``) and renders
``templates/sections/<name>.html.j2`` with autoescape: free text (already masked in the
view) is escaped by the template, never by hand. Views hold aggregates only.
"""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from canvass.report import charts
from canvass.report.templating import delta, render
from canvass.report.views import CommunityView, DigestView
from canvass.vocab import LOW_SAMPLE, RATE_KEYS, RATE_LABELS


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
    return {"key": key, "label": RATE_LABELS[key], "rate": rate, "low": low, "high": high, "n": int(n),
            "status": status, "has_rate": not pd.isna(rate),
            "low_sample": key != "coverage" and int(n) < LOW_SAMPLE,
            "delta": delta(rate, previous) if prev is not None else ""}


def _figures(row: pd.Series, prev: pd.Series | None = None) -> list[dict]:
    return [rate_figure(row, k, prev) for k in RATE_KEYS]


# --- a community's report ------------------------------------------------------------------

def community_title(view: CommunityView, digest_href: str | None = "../digest.html") -> str:
    """Return the report's title block with the week's dates and a link back to the digest."""
    return render("sections/community_title.html.j2", view=view, digest_href=digest_href)


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
    """Return the weekly trend charts and table."""
    t = view.trend
    return render("sections/community_trends.html.j2", trend=_records(t),
                  rates_chart=Markup(charts.trend_chart(t, "累计覆盖率与各项比率")),
                  visits_chart=Markup(charts.weekly_bars(t, "每周走访与入户次数")))


def community_issues(view: CommunityView) -> str:
    """Return issues by category and status, and the latest open issues (masked)."""
    return render("sections/community_issues.html.j2", view=view, issues=_records(view.issues),
                  recent=_records(view.recent_issues))


def community_quality(view: CommunityView) -> str:
    """Return the community's data-quality summary: rejected rows by reason."""
    return render("sections/quality.html.j2", rows=_records(view.quality), columns={"说明": "原因", "rows": "行数"},
                  status_rows=[], status_columns={})


def method_note(view: CommunityView | DigestView) -> str:
    """Return the 口径说明: how each number is computed, with this run's targets and overdue days."""
    return render("sections/method_note.html.j2", targets=view.targets, overdue_days=view.overdue_days)


# --- the digest ------------------------------------------------------------------------------

def _pooled(view: DigestView) -> pd.Series:
    return view.metrics[view.metrics["scope"] == "subdistrict"].iloc[0]


def digest_title(view: DigestView) -> str:
    """Return the digest's title block: sub-district, week dates."""
    return render("sections/digest_title.html.j2", view=view)


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
            gaps.append({"metric": RATE_LABELS[k], "community": m.loc[i, "community"], "rate": rates[i],
                         "target": targets[k], "gap": f"{gap:.1f}" if gap > 0 else "已达标"})
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
                  status_rows=status_rows, status_columns=status_columns)


def digest_links(view: DigestView) -> str:
    """Return links to each community report (work when the whole week folder is shared)."""
    return render("sections/digest_links.html.j2", links=view.links)
