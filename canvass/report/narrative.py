"""The week in three parts (本周工作 → 存在问题 → 下步打算) as plain sentences built from the numbers.

Every number in a sentence is a metrics.csv value of the report week (or a grid's pace row,
which metrics.csv does not hold), formatted as the reports format it; nothing is recomputed
here. The sentences are plain strings, so the digest and the WeChat image can share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from canvass.credibility import CREDIBLE_GAP
from canvass.metrics import status
from canvass.pace import NO_PACE
from canvass.report.templating import pct
from canvass.vocab import METRIC_FIELDS, RATE_KEYS, RATE_LABELS

LOWEST_GRIDS = 3  # grids named under 存在问题 and per community under 下步打算


@dataclass
class WeekSummary:
    """The three parts of the week, each a list of short sentences."""

    work: list[str] = field(default_factory=list)  # 本周工作
    problems: list[str] = field(default_factory=list)  # 存在问题
    next: list[str] = field(default_factory=list)  # 下步打算

    def parts(self) -> list[tuple[str, list[str]]]:
        return [("本周工作", self.work), ("存在问题", self.problems), ("下步打算", self.next)]

    def as_dict(self) -> dict[str, list[str]]:
        """Return title → sentences, the shape of ``wechat.LongImage.parts``."""
        return dict(self.parts())


def _int(v) -> int:
    return int(round(float(v)))


def _num(v) -> str:
    """Return a count as text: whole numbers without decimals, hours with one."""
    f = float(v)
    return str(int(round(f))) if abs(f - round(f)) < 1e-9 else f"{f:.1f}"


def _has(row: pd.Series, col: str) -> bool:
    return col in row and not pd.isna(row[col])


def rate_column(key: str) -> str:
    return "coverage_cum" if key == "coverage" else f"{key}_rate_cum"


def credible_drops(row: pd.Series) -> list[str]:
    """Return the questions whose credible rate is more than CREDIBLE_GAP below the reported rate."""
    out = []
    for x in METRIC_FIELDS:
        col = f"{x}_rate_credible_cum"
        if _has(row, col) and _has(row, f"{x}_rate_cum") and row[f"{x}_rate_cum"] - row[col] > CREDIBLE_GAP + 1e-9:
            out.append(x)
    return out


def work_sentences(p: pd.Series) -> list[str]:
    """Return 本周工作 for the pooled row."""
    out = [f"走访 {_int(p['visits_week'])} 次，新覆盖 {_int(p['new_reached_week'])} 户，"
           f"累计覆盖 {_int(p['reached_cum'])}/{_int(p['households'])} 户。",
           f"回收问卷 {_int(p['returns_week'])} 份，发放宣传材料 {_int(p['materials_week'])} 份。"]
    if _has(p, "activities_week"):
        out.append(f"开展志愿服务活动 {_int(p['activities_week'])} 次，其中清理 {_int(p['cleanups_week'])} 次，"
                   f"参与 {_int(p['turnout_week'])} 人次（党员 {_int(p['party_turnout_week'])} 人次）。")
    if _has(p, "shops_known"):
        out.append(f"巡查商铺 {_int(p['shops_inspected_week'])} 家 {_int(p['inspections_week'])} 次，"
                   f"联合执法 {_int(p['enforcement_week'])} 次。")
    return out


def problem_sentences(m: pd.DataFrame, grids: pd.DataFrame | None) -> list[str]:
    """Return 存在问题: red statuses, overdue issues, pace, lowest grids, credibility, missing cleanups."""
    out = []
    red = []
    for _, r in m.iterrows():  # one row per community
        keys = [RATE_LABELS[k] for k in RATE_KEYS if r.get(f"{k}_status") == "red"]
        if keys:
            red.append(f"{r['community']}（{'、'.join(keys)}）")
    if red:
        out.append("落后于目标：" + "；".join(red) + "。")
    overdue = [f"{r['community']} {_int(r['issues_overdue'])} 件" for _, r in m.iterrows() if r["issues_overdue"] > 0]
    if overdue:
        out.append("超期未办结诉求：" + "、".join(overdue) + "。")
    if "on_track" in m:
        late = m[m["on_track"].astype(str) == "false"]
        if len(late):
            out.append("按当前进度测评前不能全覆盖：" + "、".join(late["community"]) + "。")
    if grids is not None and len(grids):
        g = grids[grids["remaining"] > 0]
        g = g.assign(_cov=g["reached"] / g["households"]).sort_values(["_cov", "remaining"], ascending=[True, False])
        low = [f"{r['community']}{r['grid_label']} {pct(r['_cov'])}" for _, r in g.head(LOWEST_GRIDS).iterrows()]
        if low:
            out.append("覆盖率最低的网格：" + "、".join(low) + "。")
    drops = []
    for _, r in m.iterrows():
        for x in credible_drops(r):
            drops.append(f"{r['community']}{RATE_LABELS[x]} {pct(r[f'{x}_rate_cum'])}，"
                         f"剔除可疑问卷后 {pct(r[f'{x}_rate_credible_cum'])}")
    if drops:
        out.append("可信度存疑：" + "；".join(drops) + "。")
    if "cleanups_week" in m:
        none = m[m["cleanups_week"] == 0]
        if len(none):
            out.append("本周未开展清理：" + "、".join(none["community"]) + "。")
    return out


def _top_grids(grids: pd.DataFrame | None, community: str) -> str:
    if grids is None or not len(grids):
        return ""
    g = grids[(grids["community"] == community) & (grids["remaining"] > 0)]
    g = g.sort_values("remaining", ascending=False, kind="stable").head(LOWEST_GRIDS)
    return "、".join(f"{r['grid_label']} {_int(r['remaining'])} 户" for _, r in g.iterrows())


def next_sentences(m: pd.DataFrame, grids: pd.DataFrame | None, pooled: pd.Series) -> list[str]:
    """Return 下步打算: per community off track, households left, per day needed and the grids to go to."""
    out = []
    with_date = "on_track" in m and (m["on_track"].astype(str) != "").any()
    if with_date:
        behind = m[m["on_track"].astype(str) == "false"]
    else:  # no assessment date: the communities not yet fully covered, most left first
        behind = m[m["remaining"] > 0].sort_values("remaining", ascending=False, kind="stable")
    for _, r in behind.iterrows():
        s = f"{r['community']}：还有 {_int(r['remaining'])} 户未覆盖"
        if with_date and _has(r, "needed_per_day"):
            s += f"，距测评 {_int(r['days_left'])} 天，每天需覆盖 {_int(r['needed_per_day'])} 户"
        elif not with_date:
            s += "，按近两周进度" + ("无法完成" if r["pace_text"] == NO_PACE else f"预计 {r['pace_text']} 全覆盖")
        top = _top_grids(grids, r["community"])
        out.append(s + (f"；重点：{top}" if top else "") + "。")
    if with_date and not len(behind):
        out.append("各社区按当前进度均可在测评前实现全覆盖，保持走访节奏。")
    if "cleanups_week" in m:
        none = m[m["cleanups_week"] == 0]
        if len(none):
            out.append("本周六组织" + "、".join(none["community"]) + "开展志愿服务清理。")
    if pooled["issues_overdue"] > 0:
        out.append(f"督办超期诉求 {_int(pooled['issues_overdue'])} 件。")
    return out


def week_summary(metrics: pd.DataFrame, grid_pace: pd.DataFrame | None) -> WeekSummary:
    """Return the week in three parts for the sub-district, from the week's metrics.csv rows."""
    m = metrics[metrics["scope"] == "community"]
    pooled = metrics[metrics["scope"] == "subdistrict"].iloc[0]
    return WeekSummary(work_sentences(pooled), problem_sentences(m, grid_pace),
                       next_sentences(m, grid_pace, pooled))


def credible_status_changes(row: pd.Series, targets: dict) -> dict:
    """Return question → (status with, status without flagged returns) where leaving them out changes it."""
    out = {}
    for x in METRIC_FIELDS:
        col = f"{x}_rate_credible_cum"
        if col not in row:
            continue
        before = str(status(np.array([row[f"{x}_rate_cum"]], dtype=float), targets[x])[0])
        after = str(status(np.array([row[col]], dtype=float), targets[x])[0])
        if before and after and before != after:
            out[x] = (before, after)
    return out
