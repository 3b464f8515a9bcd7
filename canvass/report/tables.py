"""Tables for analysts: metrics.csv and metrics.xlsx."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from canvass.metrics import METRIC_COLUMNS
from canvass.run.atomic import atomic_path, write_bytes
from canvass.vocab import METRIC_FIELDS, RATE_LABELS


def write_metrics_csv(metrics: pd.DataFrame, path: Path) -> None:
    """Write metrics.csv: UTF-8 with BOM, the contract's columns first, full precision."""
    data = metrics.to_csv(index=False, lineterminator="\n", float_format=None)
    write_bytes(path, ("\ufeff" + data).encode("utf-8"))


def excel_value(v):
    """Return a cell value Excel accepts: control characters removed from text, NaN as empty."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, str):
        return ILLEGAL_CHARACTERS_RE.sub("", v)
    return v


def write_metrics_xlsx(week_metrics: pd.DataFrame, all_weeks: pd.DataFrame, path: Path) -> None:
    """Write metrics.xlsx for upward reporting: Chinese headers, percentages, this week + every week."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in (("本周", week_metrics), ("历周", all_weeks)):
        ws = wb.create_sheet(title)
        frame = frame[METRIC_COLUMNS].copy()
        frame["scope"] = frame["scope"].map({"community": "社区", "subdistrict": "街道合计"})
        ws.append([CN_HEADERS[c] for c in METRIC_COLUMNS])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
        for row in frame.itertuples(index=False):  # a few rows per week
            ws.append([excel_value(v) for v in row])
        for j, col in enumerate(METRIC_COLUMNS, start=1):
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
