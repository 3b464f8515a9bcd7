"""Follow-up lists (查缺补漏): every occupied household not reached as of W, one sheet per grid."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from canvass.ingest.clean import Cleaned
from canvass.metrics import reached_households
from canvass.privacy import mask_name, mask_phone
from canvass.report.tables import excel_text, excel_value, int_or_text
from canvass.run.atomic import atomic_path
from canvass.vocab import OUTCOME_LABELS
from canvass.weeks import week_bounds

HEADER = ["网格", "楼号", "单元", "室", "户主", "电话", "最近走访日期", "最近走访结果"]
WIDTHS = [12, 8, 8, 8, 10, 15, 14, 14]
ALL_REACHED = "全部已覆盖"
_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def unreached(cleaned: Cleaned, community: str, week: str) -> pd.DataFrame:
    """Return the occupied households of ``community`` not reached as of W, with their last visit."""
    sunday = pd.Timestamp(week_bounds(week)[1])
    h = cleaned.households
    h = h[(h["community"] == community) & h["occupied"].astype(bool)]
    v = cleaned.visits
    v = v[(v["community"] == community) & (v["date"] <= sunday)]
    todo = h[~reached_households(h, v, sunday)].copy()
    last = v.sort_values(["date", "order"]).drop_duplicates("key", keep="last").set_index("key")
    todo["last_date"] = todo["key"].map(last["date"])
    todo["last_outcome"] = todo["key"].map(last["outcome"]).map(OUTCOME_LABELS)
    todo = todo.assign(_g=_num(todo["grid"]), _b=_num(todo["building"]), _u=_num(todo["unit"]), _r=_num(todo["room"]))
    todo = todo.sort_values(["_g", "grid", "_b", "building", "_u", "unit", "_r", "room"], na_position="last")
    return todo.drop(columns=["_g", "_b", "_u", "_r"]).reset_index(drop=True)


def sheet_title(label: str, used: set) -> str:
    """Return a valid, unique Excel sheet name for a grid label."""
    name = excel_text(_BAD_SHEET.sub("_", label)).strip("'") or "网格"
    name = name[:31]
    base, n = name, 1
    while name.lower() in used:
        n += 1
        suffix = f"({n})"
        name = base[: 31 - len(suffix)] + suffix
    used.add(name.lower())
    return name


def write_followup(cleaned: Cleaned, community: str, week: str, path: Path) -> int:
    """Write the follow-up workbook of one community; return the number of households listed."""
    todo = unreached(cleaned, community, week)
    h = cleaned.households
    # 包户到人 (section 11): a 包户人 column when the community's registry names them
    responsible = "responsible" in h and bool((h.loc[h["community"] == community, "responsible"].astype(str) != "").any())
    header = HEADER + (["包户人"] if responsible else [])
    wb = Workbook()
    wb.remove(wb.active)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    groups = list(todo.groupby("grid_label", sort=False)) if len(todo) else [(ALL_REACHED, todo)]
    used: set = set()
    for label, grp in groups:
        ws = wb.create_sheet(sheet_title(str(label), used))
        ws.append(header)
        for cell in ws[1]:
            cell.font, cell.fill = bold, fill
            cell.alignment = Alignment(horizontal="center")
        for r in grp.itertuples(index=False):  # rows of one grid's unreached list
            last = r.last_date.date() if isinstance(r.last_date, pd.Timestamp) and not pd.isna(r.last_date) else None
            ws.append([excel_value(v) for v in (
                r.grid_label, int_or_text(r.building), int_or_text(r.unit), int_or_text(r.room),
                mask_name(r.name), mask_phone(str(r.phone)) if r.phone else "", last,
                r.last_outcome if isinstance(r.last_outcome, str) else "",
                *([mask_name(r.responsible)] if responsible else []))])
            if last is not None:
                ws.cell(ws.max_row, 7).number_format = "yyyy-mm-dd"
        ws.freeze_panes = "A2"
        for i, w in enumerate(WIDTHS + [10]):
            ws.column_dimensions[chr(ord("A") + i)].width = w
        ws.auto_filter.ref = ws.dimensions
    stamp = dt.datetime.combine(week_bounds(week)[1], dt.time())
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.title = excel_text(f"{community} 未覆盖住户 {week}")
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return len(todo)

