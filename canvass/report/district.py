"""The district digest (OUT/W/district.html), district_metrics.csv and district.png.

Everything here is computed from what each sub-district's run wrote: its metrics.csv
(week W), its metrics history (earlier weeks, for trends and the change since last week)
and its manifest (files read, warnings, report outcomes). So the district's numbers are
the sub-district files' numbers by construction, and a sub-district that was not re-run
(``--community`` elsewhere) is shown as its last run left it.

Pooled figures are sums of numerators over sums of denominators: each rate's numerator is
recovered from metrics.csv as rate × sample (exact: the rate was computed from those two
integers), never by averaging rates. Statuses are judged against the district's targets
(district.yml, else the built-in ones), so that every row of the page uses one yardstick.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from canvass.metrics import COUNT_COLUMNS, metrics_table, status
from canvass.vocab import LOW_SAMPLE, METRIC_FIELDS, RATE_KEYS, RATE_LABELS

WEAKEST_SUBDISTRICTS = 3
WEAKEST_COMMUNITIES = 10
# district_metrics.csv: metrics.csv's columns that mean something for a sum of sub-districts
# (sections 10-12 are left out: their pace and credibility columns are not sums).
CSV_COLUMNS = (["scope", "subdistrict", "week", "households", "reached_cum", "coverage_cum", "visits_week",
                "entered_week", "returns_week", "returns_cum"]
               + [c for x in METRIC_FIELDS for c in (f"{x}_rate_week", f"{x}_rate_cum", f"{x}_n_week", f"{x}_n_cum")]
               + ["issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue", "resolution_rate_cum",
                  "materials_week", "rejected_rows", "coverage_status"]
               + [f"{x}_status" for x in METRIC_FIELDS] + ["issues_raised_cum", "issues_resolved_cum"])


@dataclass
class SubdistrictData:
    """What the district digest reads of one sub-district (aggregates only)."""

    name: str
    slug: str
    status: str  # ok | partial (some community reports failed) | failed | reused | not run
    error: str = ""
    metrics: pd.DataFrame | None = None  # its metrics.csv (week W)
    history: pd.DataFrame | None = None  # its metrics history (every week up to W)
    manifest: dict = field(default_factory=dict)


def read_metrics_csv(path: Path) -> pd.DataFrame:
    """Return a metrics.csv as written (names kept as text, even ``NA``)."""
    return pd.read_csv(path, encoding="utf-8-sig", converters={"community": str, "scope": str, "week": str})


def read_subdistrict(name: str, slug: str, status: str, error: str, out_dir: Path, internal_dir: Path,
                     week: str) -> SubdistrictData:
    """Return a sub-district's files for week W (metrics None when it has none for W)."""
    from canvass.errors import CacheError
    from canvass.run.store import load_history

    data = SubdistrictData(name, slug, status, error)
    csv = out_dir / week / "metrics.csv"
    if status == "failed" or not csv.is_file():
        if status != "failed":
            data.status = "not run"
        return data
    data.metrics = read_metrics_csv(csv)
    try:
        data.history = load_history(internal_dir / week / "metrics_history.parquet")
    except (CacheError, OSError):
        data.history = data.metrics  # trends then show W only
    try:
        data.manifest = json.loads((out_dir / week / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data.manifest = {}
    return data


def counts_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Return metrics rows as the numerators and denominators they were computed from."""
    out = {}
    for col in ("households", "reached_cum", "visits_week", "entered_week", "returns_week", "returns_cum",
                "issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue",
                "issues_raised_cum", "issues_resolved_cum", "materials_week", "rejected_rows"):
        out[col] = pd.to_numeric(rows[col], errors="coerce").fillna(0).round().astype("int64").to_numpy()
    for x in METRIC_FIELDS:
        for label in ("week", "cum"):
            n = pd.to_numeric(rows[f"{x}_n_{label}"], errors="coerce").fillna(0).to_numpy(dtype=float)
            rate = pd.to_numeric(rows[f"{x}_rate_{label}"], errors="coerce").fillna(0).to_numpy(dtype=float)
            out[f"{x}_n_{label}"] = n.round().astype("int64")
            out[f"{x}_pos_{label}"] = (rate * n).round().astype("int64")
    return pd.DataFrame(out, index=pd.Index(list(rows["community"]), name="community"))[COUNT_COLUMNS]


def district_table(subs: list[SubdistrictData], week: str, district: str, targets: dict) -> pd.DataFrame:
    """Return one row per sub-district with figures (scope ``community``) and the pooled district row
    (scope ``subdistrict``), as ``metrics.metrics_table`` lays a sub-district out."""
    rows = [s.metrics[s.metrics["scope"] == "subdistrict"].assign(community=s.name) for s in subs
            if s.metrics is not None]
    if not rows:
        return pd.DataFrame()
    return metrics_table(counts_of(pd.concat(rows, ignore_index=True)), week, district, targets)


def district_trend(subs: list[SubdistrictData], district: str, targets: dict) -> pd.DataFrame:
    """Return the pooled district row of every week any sub-district has (for the trend chart)."""
    hist = [s.history[s.history["scope"] == "subdistrict"].assign(community=s.name) for s in subs
            if s.history is not None]
    if not hist:
        return pd.DataFrame()
    all_rows = pd.concat(hist, ignore_index=True)
    out = []
    for w in sorted(all_rows["week"].unique()):
        table = metrics_table(counts_of(all_rows[all_rows["week"] == w]), w, district, targets)
        out.append(table[table["scope"] == "subdistrict"])
    return pd.concat(out, ignore_index=True)


def previous_table(subs: list[SubdistrictData], week: str, district: str, targets: dict) -> pd.DataFrame | None:
    """Return last week's district table (None when no sub-district has a week before W)."""
    prev = []
    for s in subs:
        if s.history is None or s.metrics is None:
            continue
        weeks = sorted(w for w in s.history["week"].unique() if w < week)
        if weeks:
            h = s.history[(s.history["week"] == weeks[-1]) & (s.history["scope"] == "subdistrict")]
            prev.append(h.assign(community=s.name))
    if not prev:
        return None
    return metrics_table(counts_of(pd.concat(prev, ignore_index=True)), week, district, targets)


def _gap_rows(row: pd.Series, targets: dict) -> list[tuple[str, float, float]]:
    """Return (rate key, rate, target − rate) for the rates of a metrics row below target, worst first.

    Question rates on fewer than LOW_SAMPLE returns are left out: too few to call a community weak.
    """
    out = []
    for k in RATE_KEYS:
        if k == "coverage":
            rate = row["coverage_cum"]
        else:
            if float(row[f"{k}_n_cum"]) < LOW_SAMPLE:
                continue
            rate = row[f"{k}_rate_cum"]
        if pd.isna(rate):
            continue
        gap = targets[k] - float(rate)
        if status(rate, targets[k]) != "green":
            out.append((k, float(rate), gap))
    return sorted(out, key=lambda t: -t[2])


def weakest_subdistricts(table: pd.DataFrame, targets: dict, n: int = WEAKEST_SUBDISTRICTS) -> list[dict]:
    """Return the sub-districts with most rates 落后, then 接近, then the largest total gap."""
    rows = []
    for _, r in table[table["scope"] == "community"].iterrows():
        gaps = _gap_rows(r, targets)
        if not gaps:
            continue
        sts = [str(r["coverage_status"] if k == "coverage" else r[f"{k}_status"]) for k, _, _ in gaps]
        rows.append({"name": r["community"], "red": sts.count("red"), "amber": sts.count("amber"),
                     "gap": sum(g for _, _, g in gaps),
                     "behind": [{"label": RATE_LABELS[k], "rate": rate, "target": targets[k], "gap": f"{g * 100:.1f}"}
                                for k, rate, g in gaps]})
    rows.sort(key=lambda d: (-d["red"], -d["amber"], -d["gap"]))
    return rows[:n]


def weakest_communities(subs: list[SubdistrictData], targets: dict, week: str,
                        n: int = WEAKEST_COMMUNITIES) -> list[dict]:
    """Return the communities furthest below a district target on any rate (their worst rate)."""
    rows = []
    for s in subs:
        if s.metrics is None:
            continue
        slugs = s.manifest.get("slugs", {})
        done = s.manifest.get("communities", {})
        for _, r in s.metrics[s.metrics["scope"] == "community"].iterrows():
            gaps = _gap_rows(r, targets)
            if not gaps:
                continue
            k, rate, gap = gaps[0]
            c = r["community"]
            ok = done.get(c, {}).get("status") in ("ok", "reused") and c in slugs
            rows.append({"subdistrict": s.name, "community": c, "label": RATE_LABELS[k], "rate": rate,
                         "target": targets[k], "gap": gap, "gap_text": f"{gap * 100:.1f}", "behind": len(gaps),
                         "link": f"../{s.slug}/{week}/communities/{slugs[c]}.html" if ok else None})
    rows.sort(key=lambda d: (-d["gap"], -d["behind"], d["subdistrict"], d["community"]))
    return rows[:n]


def sparkline(values: list[float]) -> Markup:
    """Return a small inline SVG line of cumulative coverage by week (0–100%), for a table cell."""
    v = [x for x in values if x is not None and not math.isnan(x)]
    if len(v) < 2:
        return Markup("")
    w, h = 72, 20
    step = w / (len(v) - 1)
    pts = " ".join(f"{i * step:.1f},{h - 2 - min(max(x, 0.0), 1.0) * (h - 4):.1f}" for i, x in enumerate(v))
    last = v[-1]
    return Markup(f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
                  f'aria-label="覆盖率走势，最新 {last * 100:.1f}%"><polyline fill="none" stroke="#0072B2" '
                  f'stroke-width="1.6" points="{pts}"/></svg>')


def quality_rows(subs: list[SubdistrictData]) -> list[dict]:
    """Return per sub-district: files read, duplicate downloads left out, warnings, rejected rows, failed reports."""
    out = []
    for s in subs:
        m = s.manifest
        inputs = m.get("inputs", [])
        pooled = s.metrics[s.metrics["scope"] == "subdistrict"].iloc[0] if s.metrics is not None else None
        out.append({"name": s.name, "files": len(inputs) if m else None,
                    "left_out": sum(1 for f in inputs if f.get("duplicate_download_of")) if m else None,
                    "warnings": len(m.get("warnings", [])) if m else None,
                    "rejected": int(pooled["rejected_rows"]) if pooled is not None else None,
                    "failed_reports": sum(1 for o in m.get("communities", {}).values() if o.get("status") == "failed"),
                    "status": s.status})
    return out


STATUS_CN = {"ok": "完成", "partial": "部分社区报告失败", "failed": "失败", "reused": "沿用上次结果",
             "not run": "本周未生成"}


def render_district(subs: list[SubdistrictData], district: str, week: str, targets: dict,
                    sample_data: bool = False) -> tuple[str, pd.DataFrame]:
    """Return (district.html, the district table) for week W."""
    from canvass.report import charts
    from canvass.report.pages import css, footer
    from canvass.report.sections import _figures
    from canvass.report.templating import render

    table = district_table(subs, week, district, targets)
    prev = previous_table(subs, week, district, targets)
    prev_rows = prev.set_index("community") if prev is not None else None
    by_name = {s.name: s for s in subs}
    rows = []
    for s in subs:
        if s.metrics is None:
            rows.append({"name": s.name, "link": None, "status": s.status, "status_text": STATUS_CN.get(s.status, s.status),
                         "figures": None, "spark": Markup(""), "total": False})
    if len(table):
        for _, r in table.iterrows():
            total = r["scope"] == "subdistrict"
            name = r["community"]
            p = prev_rows.loc[name] if prev_rows is not None and name in prev_rows.index else None
            s = by_name.get(name) if not total else None
            if total:
                trend = district_trend(subs, district, targets)
            else:
                h = s.history
                trend = h[h["scope"] == "subdistrict"].sort_values("week")
            spark = sparkline(pd.to_numeric(trend["coverage_cum"], errors="coerce").tolist()) if len(trend) else Markup("")
            rows.append({"name": name, "link": None if total else f"../{s.slug}/{week}/digest.html",
                         "status": s.status if s else "", "status_text": STATUS_CN.get(s.status, "") if s else "",
                         "figures": _figures(r, p), "spark": spark, "total": total})
        # display order: sub-districts as listed (failed ones where they belong), the district row last
        order = {s.name: i for i, s in enumerate(subs)}
        rows.sort(key=lambda d: (d["total"], order.get(d["name"], 0)))
    pooled = table[table["scope"] == "subdistrict"].iloc[0] if len(table) else None
    trend = district_trend(subs, district, targets)
    chart = Markup(charts.trend_chart(trend, f"{district}累计比率")) if len(trend) > 1 else Markup("")
    issues = []
    for _, r in table[table["scope"] == "community"].iterrows() if len(table) else []:
        issues.append({"name": r["community"], "raised": int(r["issues_raised_week"]), "open": int(r["issues_open"]),
                       "overdue": int(r["issues_overdue"]), "resolution": r["resolution_rate_cum"]})
    issues.sort(key=lambda d: (-d["overdue"], -d["open"]))
    failed = [{"name": s.name, "error": _safe(s.error)} for s in subs if s.status == "failed"]
    partial = [{"name": s.name, "link": f"../{s.slug}/{week}/digest.html",
                "n": sum(1 for o in s.manifest.get("communities", {}).values() if o.get("status") == "failed")}
               for s in subs if s.status == "partial"]
    body = render("pages/district_body.html.j2", district=district, week=week, rows=rows, targets=targets,
                  pooled=pooled, figures=_figures(pooled) if pooled is not None else [], chart=chart,
                  weakest=weakest_subdistricts(table, targets) if len(table) else [],
                  communities=weakest_communities(subs, targets, week), issues=issues,
                  pooled_issues=pooled, quality=quality_rows(subs), failed=failed, partial=partial,
                  not_run=[s.name for s in subs if s.status == "not run"],
                  n_subdistricts=len(subs), n_communities=sum(
                      int((s.metrics["scope"] == "community").sum()) for s in subs if s.metrics is not None),
                  sample_data=sample_data)
    html = render("pages/page.html.j2", title=f"{district} 创城入户宣传周报 {week}", css=Markup(css()),
                   footer=footer(week), body=Markup(body)) + "\n"
    return html, table


def _safe(text: str) -> str:
    """Return an error message for a shareable page: phone numbers and house numbers masked."""
    from canvass.privacy import mask_addresses, mask_ip, mask_phone

    return mask_addresses(mask_phone(mask_ip(str(text or ""))))


def csv_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return the district table as district_metrics.csv lays it out."""
    if not len(table):
        return pd.DataFrame(columns=CSV_COLUMNS)
    t = table.rename(columns={"community": "subdistrict"})
    t["scope"] = t["scope"].map({"community": "subdistrict", "subdistrict": "district"})
    return t[CSV_COLUMNS]


def district_image(table: pd.DataFrame, district: str, week: str, subs: list[SubdistrictData], targets: dict,
                   banner: str = ""):
    """Return the district's WeChat long image: pooled tiles and one row per sub-district."""
    from canvass.report import wechat
    from canvass.weeks import week_bounds

    sunday = week_bounds(week)[1]
    footer = f"数据截至 {sunday.year}年{sunday.month}月{sunday.day}日（周日） · 完整报告见 district.html"
    problems = [f"{s.name}：数据有误，本周未生成" for s in subs if s.status == "failed"]
    weak = weakest_subdistricts(table, targets)
    problems += [f"{w['name']}：" + "、".join(f"{b['label']}差{b['gap']}个百分点" for b in w["behind"][:3]) for w in weak]
    parts = {"存在问题": problems} if problems else {}
    image = wechat.digest_image(table, district, week, parts=parts, banner=banner, footer=footer)
    image.grid_title = "各街道达标情况"
    return image


def write_district_csv(table: pd.DataFrame, path: Path) -> None:
    """Write district_metrics.csv: UTF-8 with BOM, full precision, like metrics.csv."""
    from canvass.report.tables import write_metrics_csv

    write_metrics_csv(csv_table(table), path)

