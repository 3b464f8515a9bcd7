"""The "to fix" workbook per community (待更正): its rejected rows as staff can use them.

Sheets 待更正-<kind> (one per kind of file): 文件, 行号, 原因 in plain Chinese, then the row's
own cells as columns; 无需更正: repeated and replaced rows, counted per file.
Sheet 台账缺少的地址: addresses seen in visits or surveys but not in the 住户台账, to add
or correct. This is what the digest means by 逐行明细由街道数据员发给各社区更正. It holds
personal data: it is written under ``internal/``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
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


def fix_table(rejects: pd.DataFrame, files) -> pd.DataFrame:
    """Return rejects.csv's rows with each file's ``kind`` and the header of its date column
    (``date_header``), which the to-fix workbook needs (``files``: the FileRecords)."""
    from canvass.ingest import kinds

    kind = {r.file: r.kind for r in files}
    date = {r.file: r.columns.get(kinds.KINDS[r.kind].date_field or "", "") for r in files}
    return rejects.assign(kind=rejects["file"].map(kind), date_header=rejects["file"].map(date).fillna(""))


_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")


def _shown_date(value: str) -> str:
    """Return an Excel date serial (``45149.83402777778``, a survey's 提交时间 as the file holds it)
    as the date and time Excel shows for it; any other text as it is."""
    from canvass.ingest.dates import parse_datetimes  # the one reading of serials (its range too)

    if not isinstance(value, str) or not _SERIAL.match(value.strip()):
        return value
    stamp = parse_datetimes(pd.Series([value.strip()]))[0]
    if pd.isna(stamp):
        return value
    return stamp.strftime("%Y-%m-%d %H:%M:%S" if stamp.time() != dt.time() else "%Y-%m-%d")


def _rows_with_cells(rejects: pd.DataFrame) -> tuple[list, list]:
    """Return (header, rows): the fixed columns, then the union of the raw headers in order seen.
    A date column's Excel serial numbers are shown as dates (``fix_table``'s ``date_header``)."""
    cells = [json.loads(r) if r else {} for r in rejects["raw"].tolist()]
    extra = list(dict.fromkeys(k for c in cells for k in c))
    dates = rejects["date_header"].tolist() if "date_header" in rejects else [""] * len(rejects)
    rows = [[f, int(r), why] + [_shown_date(c.get(k, "")) if k == d else c.get(k, "") for k in extra]
            for f, r, why, c, d in zip(rejects["file"], rejects["row"], rejects["说明"], cells, dates)]
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


# Rejected rows that need no correction: a row sent again, a return downloaded twice, a return
# replaced by the household's later one. They are counted, not listed for correcting.
NO_FIX = ("duplicate row", "duplicate return", "superseded")
SKIPPED_HEADER = ["文件", "原因", "行数", "行号（前 10 个）"]


def _style(ws) -> None:
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FCE4D6")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
    ws.freeze_panes = "A2"


def write_fixlist(rejects: pd.DataFrame, community: str, week: str, path: Path) -> int:
    """Write one community's to-fix workbook from W's rejects (rejects.csv's rows, with their
    file's ``kind``); return how many rows it asks to correct.

    One sheet per kind of file (待更正-走访记录 …) with that kind's own columns, so a shop row
    is not laid out beside a questionnaire's; then 无需更正 (repeats and replaced returns,
    counted per file: a cumulative ledger sent again repeats every earlier row) and
    台账缺少的地址.
    """
    from canvass.ingest import kinds

    mine = rejects[rejects["community"] == community].sort_values(["file", "row"], kind="stable")
    fix = mine[~mine["reason"].isin(NO_FIX)]
    wb = Workbook()
    wb.remove(wb.active)
    kind_of = fix["kind"] if "kind" in fix else pd.Series("", index=fix.index)
    kind_of = kind_of.where(kind_of.isin(list(kinds.KINDS)), "")
    for kind in [k for k in (*kinds.KINDS, "") if (kind_of == k).any()]:
        part = fix[kind_of == kind]
        label = kinds.KINDS[kind].label if kind else "其他"
        ws = wb.create_sheet(f"待更正-{label}"[:31])
        header, rows = _rows_with_cells(part)
        ws.append(header)
        for row in rows:
            ws.append([excel_value(v) for v in row])
        _style(ws)
    if not len(fix):
        ws = wb.create_sheet("待更正记录")
        ws.append(FIX_HEADER)
        ws.append([NOTHING, "", ""])
        _style(ws)
    skipped = mine[mine["reason"].isin(NO_FIX)]
    ws = wb.create_sheet("无需更正")
    ws.append(SKIPPED_HEADER)
    for (file, why), grp in skipped.groupby(["file", "说明"], sort=True):
        ws.append([excel_value(file), excel_value(why), len(grp), ", ".join(str(int(r)) for r in grp["row"].head(10))])
    _style(ws)
    ws2 = wb.create_sheet("台账缺少的地址")
    ws2.append(MISSING_HEADER)
    for row in _missing_addresses(mine) if len(mine) else []:
        ws2.append([excel_value(v) for v in row])
    _style(ws2)
    stamp = dt.datetime.combine(week_bounds(week)[1], dt.time())
    wb.properties.created = wb.properties.modified = stamp
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return len(fix)
