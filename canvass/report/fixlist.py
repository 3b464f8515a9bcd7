"""The "to fix" workbook per community (待更正): its rejected rows as staff can use them.

Sheet 待更正记录: 文件, 行号, 原因 in plain Chinese, then the row's own cells as columns.
Sheet 台账缺少的地址: addresses seen in visits or surveys but not in the 住户台账, to add
or correct. This is what the digest means by 逐行明细由街道数据员发给各社区更正. It holds
personal data: it is written under ``internal/``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from canvass.report.tables import excel_value
from canvass.run.atomic import atomic_path
from canvass.weeks import week_bounds

FIX_HEADER = ["文件", "行号", "原因"]
MISSING_HEADER = ["地址（原样）", "出现的文件", "次数"]
NOTHING = "本周没有需要更正的记录"


def _rows_with_cells(rejects: pd.DataFrame) -> tuple[list, list]:
    """Return (header, rows): the fixed columns, then the union of the raw headers in order seen."""
    cells = [json.loads(r) if r else {} for r in rejects["raw"].tolist()]
    extra = list(dict.fromkeys(k for c in cells for k in c))
    rows = [[f, int(r), why] + [c.get(k, "") for k in extra]
            for f, r, why, c in zip(rejects["file"], rejects["row"], rejects["说明"], cells)]
    return FIX_HEADER + extra, rows


def _missing_addresses(rejects: pd.DataFrame) -> list:
    r = rejects[(rejects["reason"] == "unknown household") & rejects["kind"].isin(["visits", "surveys"])]
    if r.empty:
        return []
    texts = []
    for raw in r["raw"].tolist():
        cells = json.loads(raw) if raw else {}
        addr = next((v for k, v in cells.items() if any(w in k for w in ("地址", "住址", "门牌"))), "")
        if not addr:
            addr = "-".join(v for k, v in cells.items() if any(w in k for w in ("楼", "单元", "室", "房")) and v)
        texts.append(addr)
    t = pd.DataFrame({"addr": texts, "file": r["file"].tolist()})
    g = t.groupby("addr", sort=True).agg(files=("file", lambda s: "、".join(sorted(set(s)))), n=("file", "size"))
    return [[a, row.files, int(row.n)] for a, row in g.iterrows()]


def write_fixlist(rejects: pd.DataFrame, community: str, week: str, path: Path) -> int:
    """Write one community's to-fix workbook from W's rejects (rejects.csv's rows); return its row count."""
    mine = rejects[rejects["community"] == community].sort_values(["file", "row"], kind="stable")
    wb = Workbook()
    ws = wb.active
    ws.title = "待更正记录"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FCE4D6")
    header, rows = _rows_with_cells(mine) if len(mine) else (FIX_HEADER, [])
    ws.append(header)
    for row in rows or [[NOTHING, "", ""]]:
        ws.append([excel_value(v) for v in row])
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
    ws.freeze_panes = "A2"
    ws2 = wb.create_sheet("台账缺少的地址")
    ws2.append(MISSING_HEADER)
    for row in _missing_addresses(mine) if len(mine) else []:
        ws2.append([excel_value(v) for v in row])
    for cell in ws2[1]:
        cell.font, cell.fill = bold, fill
    stamp = dt.datetime.combine(week_bounds(week)[1], dt.time())
    wb.properties.created = wb.properties.modified = stamp
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return len(rows)
