"""Tables for analysts: metrics.csv and metrics.xlsx."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from canvass.campaign import contract_columns
from canvass.metrics import METRIC_COLUMNS
from canvass.run.atomic import atomic_path, write_bytes
from canvass.vocab import METRIC_FIELDS, RATE_LABELS


def write_metrics_csv(metrics: pd.DataFrame, path: Path) -> None:
    """Write metrics.csv: UTF-8 with BOM, the contract's columns first, full precision."""
    data = metrics.to_csv(index=False, lineterminator="\n", float_format=None)
    write_bytes(path, ("\ufeff" + data).encode("utf-8"))


def excel_text(s: str) -> str:
    """Return text without the control characters a workbook cannot hold (sheet names, titles)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", s)


def excel_value(v):
    """Return a cell value Excel accepts: control characters removed from text, NaN as empty.

    Text starting with ``=`` is written as text, never as a formula: a resident's
    ``=HYPERLINK("http://…")`` stays a string staff can read (openpyxl makes a formula of any
    string starting with ``=``, and a masked ``=***`` would be a broken one Excel offers to repair).
    """
    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, str):
        v = excel_text(v)
        if v.startswith("="):
            from openpyxl.cell.rich_text import CellRichText

            return CellRichText(v)  # an inline string cell
    return v


def int_or_text(v):
    """Return a building, unit or room as a number when it is one (Excel sorts 2 before 10), else as text."""
    s = "" if v is None or (isinstance(v, float) and v != v) else str(v)
    return int(s) if s.isdigit() else s


def write_metrics_xlsx(week_metrics: pd.DataFrame, all_weeks: pd.DataFrame, path: Path) -> None:
    """Write metrics.xlsx for upward reporting: Chinese headers, percentages, this week + every week."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    wb.remove(wb.active)
    columns = METRIC_COLUMNS + contract_columns(week_metrics)
    for title, frame in (("本周", week_metrics), ("历周", all_weeks)):
        ws = wb.create_sheet(title)
        frame = frame[columns].copy()
        frame["scope"] = frame["scope"].map({"community": "社区", "subdistrict": "街道合计"})
        ws.append([CN_HEADERS[c] for c in columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
        for row in frame.itertuples(index=False):  # a few rows per week
            ws.append([excel_value(v) for v in row])
        for j, col in enumerate(columns, start=1):
            letter = ws.cell(1, j).column_letter
            ws.column_dimensions[letter].width = max(8, min(18, len(CN_HEADERS[col]) * 2 + 2))
            if col in PERCENT_COLUMNS:
                for r in range(2, ws.max_row + 1):
                    ws.cell(r, j).number_format = "0.0%"
        ws.freeze_panes = "D2"
    with atomic_path(path) as tmp:
        wb.save(tmp)


CN_HEADERS = {
    "scope": "范围", "community": "社区", "week": "周", "households": "常住户数", "reached_cum": "已覆盖户数",
    "coverage_cum": "覆盖率", "visits_week": "本周走访次数", "entered_week": "本周入户次数",
    "returns_week": "本周问卷数", "returns_cum": "累计问卷数",
    "issues_raised_week": "本周登记诉求", "issues_resolved_week": "本周办结诉求", "issues_open": "未办结诉求",
    "issues_overdue": "超期诉求", "resolution_rate_cum": "累计办结率", "materials_week": "本周发放材料",
    "rejected_rows": "剔除行数",
}


PERCENT_COLUMNS = {"coverage_cum", "resolution_rate_cum"} | {
    f"{x}_rate_{s}" for x in METRIC_FIELDS for s in ("week", "cum")}
for _x in METRIC_FIELDS:
    _cn = RATE_LABELS[_x]
    CN_HEADERS[f"{_x}_rate_week"] = f"{_cn}（本周）"
    CN_HEADERS[f"{_x}_rate_cum"] = f"{_cn}（累计）"
    CN_HEADERS[f"{_x}_n_week"] = f"{_cn}样本数（本周）"
    CN_HEADERS[f"{_x}_n_cum"] = f"{_cn}样本数（累计）"
# Sections 10-12 (present when the data has them).
CN_HEADERS.update({"flagged_week": "本周标记问卷", "flagged_cum": "累计标记问卷",
                   **{f"{x}_rate_credible_cum": f"{RATE_LABELS[x]}（剔除标记问卷）" for x in METRIC_FIELDS},
                   "activities_week": "本周活动次数", "cleanups_week": "本周清理次数", "turnout_week": "本周参与人次",
                   "turnout_cum": "累计参与人次", "party_turnout_week": "本周党员人次",
                   "volunteer_hours_week": "本周志愿时长（小时）", "spots_cleaned_week": "本周清理点位",
                   "cleanup_weeks": "有清理的周数", "campaign_weeks": "创城周数", "shops_known": "商铺数",
                   "shops_inspected_week": "本周巡查商铺", "inspections_week": "本周巡查次数",
                   "inspection_pass_week": "本周合格率", "shops_signed_rate": "责任书签订率",
                   "violations_open": "未整改商铺", "violations_overdue": "超期未整改",
                   "enforcement_week": "本周执法次数", "occupation_week": "占道/店外经营",
                   "parking_week": "乱停乱放", "clutter_week": "乱堆乱放", "hygiene_week": "卫生问题",
                   "posting_week": "乱张贴", "problem_other_week": "其他问题",
                   "visits_week_staff": "本周走访（工作人员）", "visits_week_building_leader": "本周走访（楼长）",
                   "visits_week_party_member": "本周走访（党员）", "visits_week_volunteer": "本周走访（志愿者）",
                   "visits_week_other": "本周走访（其他）", "materials_cum": "累计发放材料",
                   "new_reached_week": "本周新覆盖户数", "remaining": "未覆盖户数", "projected_full": "预计全覆盖日期",
                   "days_left": "距测评天数", "needed_per_day": "每天需入户", "on_track": "测评前可完成"})
PERCENT_COLUMNS.update({f"{x}_rate_credible_cum" for x in METRIC_FIELDS} | {"inspection_pass_week", "shops_signed_rate"})
