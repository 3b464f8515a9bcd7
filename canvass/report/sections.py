"""What a report shows: per-community and sub-district views, and their HTML fragments.

Views hold aggregates only (counts and rates by grid, building, category): no names,
phones or addresses below building level. Free text is masked and escaped before it
is placed in a fragment. Notebooks call these functions and display the fragments.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from canvass.metrics import LOW_SAMPLE
from canvass.report import charts
from canvass.report.views import CommunityView, DigestView
from canvass.vocab import RATE_KEYS, RATE_LABELS, STATUS_TEXT
from canvass.weeks import format_week_cn, week_bounds


def week_short(label: str) -> str:
    """Return ``2023-W32`` as ``第32周（8/7–8/13）`` for tables."""
    mon, sun = week_bounds(label)
    return f"第{int(label.split('-W')[1])}周（{mon.month}/{mon.day}–{sun.month}/{sun.day}）"


def esc(value) -> str:
    """Return a value as escaped HTML text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def pct(value, digits: int = 1) -> str:
    """Return a fraction as a percentage with one decimal (``—`` when empty)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if np.isnan(v) else f"{v * 100:.{digits}f}%"


def _rate_fields(row: pd.Series, key: str, scope: str = "cum"):
    if key == "coverage":
        return (row["coverage_cum"], row["coverage_cum_low"], row["coverage_cum_high"],
                row["households"], row["coverage_status"])
    return (row[f"{key}_rate_{scope}"], row[f"{key}_rate_{scope}_low"], row[f"{key}_rate_{scope}_high"],
            row[f"{key}_n_{scope}"], row[f"{key}_status"])


def rate_cell(row: pd.Series, key: str, prev: pd.Series | None = None, compact: bool = False) -> str:
    """Return a table cell: rate, change since last week, 95% interval, 样本不足 flag, status colour."""
    rate, lo, hi, n, st = _rate_fields(row, key)
    parts = [f'<span class="rate">{pct(rate)}</span>']
    if prev is not None:
        pr = _rate_fields(prev, key)[0]
        if not (pd.isna(rate) or pd.isna(pr)):
            d = (float(rate) - float(pr)) * 100
            arrow = "↑" if d > 0.05 else ("↓" if d < -0.05 else "→")
            parts.append(f'<span class="delta">{arrow}{abs(d):.1f}</span>')
    if not pd.isna(rate):
        parts.append(f'<small class="ci">{pct(lo)}–{pct(hi)}</small>')
    if key != "coverage" and int(n) < LOW_SAMPLE:
        parts.append('<small class="low">样本不足</small>')
    title = f"{RATE_LABELS[key]} {STATUS_TEXT[st]}"
    return f'<td class="st-{st or "none"}" title="{esc(title)}">' + "".join(parts) + "</td>"


def headline_cards(row: pd.Series, targets: dict) -> str:
    """Return headline cards: each cumulative rate with interval, target, status and sample size."""
    cards = []
    for key in RATE_KEYS:
        rate, lo, hi, n, st = _rate_fields(row, key)
        denom = f"{int(row['households'])} 户" if key == "coverage" else f"样本 {int(n)} 份"
        low = '<span class="low">样本不足</span>' if key != "coverage" and int(n) < LOW_SAMPLE else ""
        interval = f"95%区间 {pct(lo)}–{pct(hi)}" if not pd.isna(rate) else "暂无数据"
        cards.append(
            f'<div class="card st-{st or "none"}"><div class="card-label">{RATE_LABELS[key]}</div>'
            f'<div class="card-value">{pct(rate)}</div>'
            f'<div class="card-sub">目标 {pct(targets[key], 0)} · <b>{STATUS_TEXT[st]}</b></div>'
            f'<div class="card-sub">{interval} · {denom} {low}</div></div>')
    return '<div class="cards">' + "".join(cards) + "</div>"


def table(frame: pd.DataFrame, columns: dict, cls: str = "", formats: dict | None = None) -> str:
    """Return an escaped HTML table of ``frame`` with Chinese column headers."""
    formats = formats or {}
    head = "".join(f"<th>{esc(label)}</th>" for label in columns.values())
    body = []
    for _, r in frame.iterrows():  # report tables are small (grids, categories)
        cells = []
        for j, col in enumerate(columns):
            v = r[col]
            f = formats.get(col)
            tag = 'th scope="row"' if j == 0 else "td"
            cells.append(f"<{tag}>{f(v) if f else esc(v)}</{tag.split()[0]}>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


# --- views -----------------------------------------------------------------------------













# --- fragments ---------------------------------------------------------------------------

def banner(sample_data: bool) -> str:
    """Return the 示例数据 banner shown on reports built from the bundled sample."""
    return ('<p class="banner">示例数据：本报告由项目自带的模拟数据生成，不代表真实情况。</p>'
            if sample_data else "")


def community_title(view: CommunityView, digest_href: str | None = "../digest.html") -> str:
    """Return the report's title block with the week's dates and a link back to the digest."""
    back = f'<a class="back" href="{esc(digest_href)}">← 返回街道汇总</a>' if digest_href else ""
    return (f'{back}<h1>{esc(view.community)} 创城入户宣传周报</h1>'
            f'<p class="sub">{esc(view.subdistrict)} · {format_week_cn(view.week)}（{esc(view.week)}）</p>'
            + banner(view.sample_data))


def community_headline(view: CommunityView) -> str:
    """Return the headline: cumulative rates against targets, and this week's work."""
    r = view.row
    week = (f'<p class="facts">本周走访 <b>{int(r["visits_week"])}</b> 次，入户 <b>{int(r["entered_week"])}</b> 次，'
            f'回收问卷 <b>{int(r["returns_week"])}</b> 份（累计 {int(r["returns_cum"])} 份），'
            f'发放宣传材料 <b>{int(r["materials_week"])}</b> 份；已覆盖 <b>{int(r["reached_cum"])}</b> / '
            f'{int(r["households"])} 户，尚有 <b>{int(r["households"] - r["reached_cum"])}</b> 户未覆盖。</p>')
    return "<h2>核心指标（累计）</h2>" + headline_cards(r, view.targets) + week


def coverage_bar(value) -> str:
    """Return a coverage cell with an inline bar (pure CSS: no chart needed for one number)."""
    try:
        v = min(max(float(value), 0.0), 1.0)
    except (TypeError, ValueError):
        return "—"
    if np.isnan(v):
        return "—"
    return (f'<span class="bar"><span style="width:{v * 100:.1f}%"></span></span>'
            f'<span class="bar-value">{pct(v)}</span>')


def community_grids(view: CommunityView) -> str:
    """Return the per-grid table, each grid's coverage drawn as a bar."""
    g = view.grids
    t = table(g, {"grid_label": "网格", "households": "住户", "reached": "已覆盖", "visits_week": "本周走访",
                  "coverage": "覆盖率"}, "num grids", {"coverage": coverage_bar})
    note = f'<p class="note">目标覆盖率 {pct(view.targets["coverage"], 0)}；按网格编号排列。</p>'
    return "<h2>分网格情况</h2>" + note + t


def community_buildings(view: CommunityView) -> str:
    """Return coverage by building as a heat table (building level only)."""
    b = view.buildings
    if b.empty:
        return "<h2>分楼栋覆盖</h2><p>暂无住户数据。</p>"
    cells = []
    for _, r in b.iterrows():
        cov = float(r["coverage"])
        band = min(int(cov * 10), 10)
        cells.append(f'<div class="heat h{band}" title="{esc(r["grid_label"])}"><b>{esc(r["building"])}号楼</b>'
                     f'<span>{pct(cov, 0)}</span><small>{int(r["reached"])}/{int(r["households"])}</small></div>')
    legend = '<p class="note">颜色越深覆盖率越高；数字为 已覆盖/住户 户数。</p>'
    return "<h2>分楼栋覆盖</h2>" + legend + '<div class="heatgrid">' + "".join(cells) + "</div>"


def community_trends(view: CommunityView) -> str:
    """Return the weekly trend charts."""
    t = view.trend
    return ("<h2>周趋势</h2>" + f'<figure>{charts.trend_chart(t, "累计覆盖率与各项比率")}</figure>'
            + f'<figure>{charts.weekly_bars(t, "每周走访与入户次数")}</figure>'
            + table(t.assign(week=t["week"].map(week_short)), {"week": "周", "visits_week": "走访", "entered_week": "入户", "returns_week": "问卷",
                        "materials_week": "宣传材料", "coverage_cum": "累计覆盖率"}, "num",
                    {"coverage_cum": pct}))


def issues_section(issues: pd.DataFrame, row: pd.Series, overdue_days: int) -> str:
    """Return the residents' issues summary and the table by category."""
    head = (f'<p class="facts">本周新登记 <b>{int(row["issues_raised_week"])}</b> 件，本周办结 '
            f'<b>{int(row["issues_resolved_week"])}</b> 件；未办结 <b>{int(row["issues_open"])}</b> 件，其中超过 '
            f'{overdue_days} 天未办结 <b class="warn">{int(row["issues_overdue"])}</b> 件；累计办结率 '
            f'<b>{pct(row["resolution_rate_cum"])}</b>。</p>')
    t = table(issues, {"category": "类别", "raised": "累计登记", "resolved": "已办结", "open": "未办结",
                       "overdue": "超期", "escalated": "已上报"}, "num")
    return "<h2>居民诉求</h2>" + head + t


def community_issues(view: CommunityView) -> str:
    """Return issues by category and status, and the latest open issues (masked)."""
    out = issues_section(view.issues, view.row, view.overdue_days)
    if len(view.recent_issues):
        out += "<h3>最近未办结的诉求（已脱敏）</h3>" + table(
            view.recent_issues, {"raised": "登记", "category": "类别", "description": "内容",
                                 "handling": "处理方式", "days": "已过天数"}, "text")
    if view.comments:
        out += "<h3>本周问卷中的意见建议（已脱敏）</h3><ul class=\"quotes\">" + "".join(
            f"<li>{esc(t)}</li>" for t in view.comments) + "</ul>"
    return out


def quality_section(quality: pd.DataFrame, by_community: bool) -> str:
    """Return the data-quality summary: rejected rows by reason (per community in the digest)."""
    note = ('<p class="note">无法识别或不符合规则的记录不计入任何指标。逐行明细（文件、行号、原因）'
            '由街道数据员发给各社区更正后重新报送。</p>')
    if quality.empty:
        return "<h2>数据质量</h2><p>本周没有被剔除的记录。</p>"
    if not by_community:
        return "<h2>数据质量</h2>" + note + table(quality, {"说明": "原因", "rows": "行数"}, "text")
    rows = []
    for community, grp in quality.groupby("community", sort=False):
        top = "；".join(f"{r['说明']} {int(r['rows'])}" for _, r in grp.head(3).iterrows())
        more = f"；其他 {int(grp['rows'].iloc[3:].sum())}" if len(grp) > 3 else ""
        rows.append({"community": community or "（社区名称无法识别）", "rows": int(grp["rows"].sum()),
                     "reasons": top + more})
    return "<h2>数据质量</h2>" + note + table(pd.DataFrame(rows), {"community": "社区", "rows": "剔除行数",
                                                                  "reasons": "主要原因（行数）"}, "text")


def community_quality(view: CommunityView) -> str:
    """Return the community's data-quality summary."""
    return quality_section(view.quality, False)


def method_note() -> str:
    """Return the 口径说明: how each number is computed."""
    return """<h2>口径说明</h2><dl class="method">
<dt>覆盖率</dt><dd>已覆盖户数 ÷ 常住（非空置）住户数。一户只要有一次“已入户”或“线上宣传”的走访记录即算已覆盖（不漏一户）。空置房不计入分母。</dd>
<dt>知晓率、支持率、参与率、满意率、垃圾分类知晓率</dt><dd>有效问卷中该题的肯定回答数 ÷（肯定 + 否定回答数）。未作答、跳过和无法识别的回答不计入分母。同一户多次填写时只计最新一份；未填地址的线上问卷计入比率，但不计入覆盖。</dd>
<dt>累计与本周</dt><dd>“累计”统计截至本周日的全部记录；“本周”只统计周一至周日的记录。街道合计为各社区分子之和 ÷ 分母之和，不是各社区比率的平均。</dd>
<dt>95% 区间</dt><dd>按 Wilson 方法计算的 95% 置信区间，表示抽样误差的范围。</dd>
<dt>样本不足</dt><dd>该比率的分母少于 30，数字波动大，仅供参考。</dd>
<dt>达标 / 接近 / 落后</dt><dd>累计比率不低于目标为达标（绿）；低于目标不超过 5 个百分点为接近（黄）；更低为落后（红）。</dd>
<dt>超期</dt><dd>登记后超过规定天数（默认 7 天）仍未办结的居民诉求。</dd>
<dt>数据质量</dt><dd>无法识别或不符合规则的记录（如地址不在住户台账、日期错误、重复报送）不计入指标，按原因统计行数。</dd>
</dl>"""


# --- the digest ------------------------------------------------------------------------





def digest_title(view: DigestView) -> str:
    """Return the digest's title block: sub-district, week dates."""
    return (f'<h1>{esc(view.subdistrict)} 创城入户宣传周报</h1>'
            f'<p class="sub">{format_week_cn(view.week)}（{esc(view.week)}） · 街道汇总</p>'
            + banner(view.sample_data))


def digest_headline(view: DigestView) -> str:
    """Return the pooled headline and the failed communities, if any."""
    pooled = view.metrics[view.metrics["scope"] == "subdistrict"].iloc[0]
    failed = {c: o for c, o in view.outcomes.items() if o.get("status") == "failed"}
    alert = ""
    if failed:
        items = "".join(f"<li><b>{esc(c)}</b>：{esc(o.get('error', '未知错误'))}</li>" for c, o in failed.items())
        alert = f'<div class="alert"><b>以下社区的报告生成失败</b>（指标仍已计入下表）：<ul>{items}</ul></div>'
    facts = (f'<p class="facts">全街道 {int(pooled["households"])} 户常住户，已覆盖 <b>{int(pooled["reached_cum"])}</b> 户'
             f'（不漏一户进度 <b>{pct(pooled["coverage_cum"])}</b>），尚有 <b>{int(pooled["households"] - pooled["reached_cum"])}</b> 户未覆盖；'
             f'本周走访 <b>{int(pooled["visits_week"])}</b> 次，回收问卷 <b>{int(pooled["returns_week"])}</b> 份。</p>')
    return alert + "<h2>街道总体（累计）</h2>" + headline_cards(pooled, view.targets) + facts


def digest_table(view: DigestView) -> str:
    """Return communities × metrics with status colours, change since last week and intervals."""
    head = "".join(f"<th>{RATE_LABELS[k]}</th>" for k in RATE_KEYS)
    rows = []
    prev = view.prev.set_index("community") if view.prev is not None else None
    for _, r in view.metrics.iterrows():
        name = r["community"]
        p = prev.loc[name] if prev is not None and name in prev.index else None
        link = view.links.get(name)
        label = f'<a href="{esc(link)}">{esc(name)}</a>' if link and r["scope"] == "community" else esc(name)
        st = view.outcomes.get(name, {}).get("status")
        if st == "failed":
            label += ' <small class="failed">报告失败</small>'
        cls = ' class="total"' if r["scope"] == "subdistrict" else ""
        rows.append(f"<tr{cls}><th>{label}</th>" + "".join(rate_cell(r, k, p) for k in RATE_KEYS) + "</tr>")
    legend = ('<p class="legend"><span class="st-green">达标</span><span class="st-amber">接近（差 5 个百分点以内）</span>'
              '<span class="st-red">落后</span> ↑↓ 为较上周变化（百分点）；小字为 95% 区间。</p>')
    return ("<h2>各社区指标一览</h2>" + legend + f'<div class="table-wrap"><table class="matrix"><thead><tr><th>社区</th>'
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def digest_trends(view: DigestView) -> str:
    """Return trend charts: pooled rates, and coverage per community."""
    pooled = view.trends[view.trends["scope"] == "subdistrict"].reset_index(drop=True)
    comm = view.trends[view.trends["scope"] == "community"]
    return ("<h2>趋势</h2>" + f'<figure>{charts.trend_chart(pooled, "全街道累计比率")}</figure>'
            + f'<figure>{charts.coverage_lines(comm, "各社区覆盖率")}</figure>')


def digest_behind(view: DigestView) -> str:
    """Return where the sub-district is behind: lowest grids and buildings, furthest communities."""
    g = view.grids.sort_values(["coverage", "households"], ascending=[True, False]).head(8)
    b = view.buildings.sort_values(["coverage", "households"], ascending=[True, False]).head(8)
    m = view.metrics[view.metrics["scope"] == "community"]
    gaps = []
    for k in RATE_KEYS:
        col = "coverage_cum" if k == "coverage" else f"{k}_rate_cum"
        rates = pd.to_numeric(m[col], errors="coerce")
        if rates.notna().any():
            i = rates.idxmin()
            gap = (view.targets[k] - rates[i]) * 100
            gaps.append({"metric": RATE_LABELS[k], "community": m.loc[i, "community"], "rate": rates[i],
                         "target": view.targets[k], "gap": f"{gap:.1f}" if gap > 0 else "已达标"})
    gaps = pd.DataFrame(gaps)
    out = "<h2>薄弱环节</h2><h3>离目标最远的社区</h3>"
    if len(gaps):
        out += table(gaps, {"metric": "指标", "community": "社区", "rate": "累计", "target": "目标",
                            "gap": "差距（百分点）"}, "text", {"rate": pct, "target": lambda v: pct(v, 0)})
    out += "<h3>覆盖率最低的网格</h3>" + table(
        g, {"community": "社区", "grid_label": "网格", "households": "住户", "reached": "已覆盖", "coverage": "覆盖率"},
        "num", {"coverage": pct})
    out += "<h3>覆盖率最低的楼栋</h3>" + table(
        b.assign(building=b["building"].astype(str) + "号楼"),
        {"community": "社区", "grid_label": "网格", "building": "楼栋", "households": "住户",
         "reached": "已覆盖", "coverage": "覆盖率"}, "num", {"coverage": pct})
    return out


def digest_issues(view: DigestView) -> str:
    """Return residents' issues for the sub-district, by category and by community."""
    pooled = view.metrics[view.metrics["scope"] == "subdistrict"].iloc[0]
    by_comm = view.metrics[["community", "issues_raised_week", "issues_resolved_week", "issues_open",
                            "issues_overdue", "resolution_rate_cum"]]
    return (issues_section(view.issues, pooled, view.overdue_days) + "<h3>各社区</h3>"
            + table(by_comm, {"community": "社区", "issues_raised_week": "本周登记", "issues_resolved_week": "本周办结",
                              "issues_open": "未办结", "issues_overdue": "超期", "resolution_rate_cum": "累计办结率"},
                    "num", {"resolution_rate_cum": pct}))


def digest_quality(view: DigestView) -> str:
    """Return data quality per community and the report status of each community."""
    m = view.metrics[view.metrics["scope"] == "community"]
    status = []
    for name in m["community"]:
        o = view.outcomes.get(name, {})
        st = o.get("status", "")
        label = {"ok": "已生成", "reused": "已生成（沿用）", "failed": "失败"}.get(st, "—")
        status.append({"community": name, "status": label, "error": o.get("error", ""),
                       "rows": int(m.loc[m["community"] == name, "rejected_rows"].iloc[0])})
    s = pd.DataFrame(status)
    cols = {"community": "社区", "status": "报告", "rows": "剔除行数"}
    if (s["error"] != "").any():
        cols["error"] = "失败原因"
    out = quality_section(view.quality, True)
    if view.outcomes:
        out += "<h3>各社区报告状态</h3>" + table(s, cols, "text")
    return out


def digest_links(view: DigestView) -> str:
    """Return links to each community report (work when the whole week folder is shared)."""
    if not view.links:
        return ""
    items = "".join(f'<li><a href="{esc(href)}">{esc(name)}</a></li>' for name, href in view.links.items())
    return f'<h2>各社区周报</h2><ul class="links">{items}</ul>'
