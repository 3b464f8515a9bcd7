"""Workbooks for staff (personal data, under ``internal/W/``): flags, back-checks, collectors,
shops with open violations, 包户人 coverage and the open issues worklist.

Every writer takes the cleaned tables and the week and writes one file atomically; names
and phones are masked as in the follow-up lists (``王**``, ``138****5678``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import weakref
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from canvass import credibility
from canvass.errors import OutputError
from canvass.metrics import issue_state, reached_households
from canvass.privacy import FreeTextMasker, mask_name
from canvass.report.tables import excel_value
from canvass.run.atomic import atomic_path, write_bytes
from canvass.vocab import HANDLING_LABELS
from canvass.weeks import week_bounds

FLAGS_COLUMNS = ["file", "row", "community", "flags", "submitted_at"]
ROLE_TEXT = {"staff": "工作人员", "building_leader": "楼长", "party_member": "党员", "volunteer": "志愿者",
             "other": "其他"}


def _workbook(title: str, header: list, rows: list, week: str, empty: str | None = None) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(header)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
    for row in rows or ([[empty] + [""] * (len(header) - 1)] if empty else []):
        ws.append([excel_value(v) for v in row])
    ws.freeze_panes = "A2"
    stamp = dt.datetime.combine(week_bounds(week)[1], dt.time())
    wb.properties.created = wb.properties.modified = stamp
    return wb


def _save(wb: Workbook, path: Path) -> None:
    with atomic_path(path) as tmp:
        wb.save(tmp)


@contextlib.contextmanager
def own_file(community: str, failed: dict | None):
    """Write one community's own file: with ``failed`` given, an OutputError fails that community
    alone (community → the one-line message, the first one kept) and the caller goes on with the
    next; without it the error ends the run, as for a shared output."""
    if failed is None:
        yield
        return
    try:
        yield
    except OutputError as exc:
        failed.setdefault(community, exc.one_line())



# --- section 10 ---------------------------------------------------------------------------------

_FLAGS_MEMO: list = []  # [(weakref to the cleaned tables, week, result)]: the last one computed
_FLAGS_LOCK = threading.RLock()  # re-entrant: _forget may run from the GC inside it


def week_flags(cleaned, week: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (standing returns as of W, their flags).

    The last result is kept (by the cleaned tables' identity, weakly): the batch writes each
    community's workbooks in turn, and every one of them reads the same flags."""
    from canvass.metrics import week_view

    with _FLAGS_LOCK:
        if _FLAGS_MEMO and _FLAGS_MEMO[0][0]() is cleaned and _FLAGS_MEMO[0][1] == week:
            return _FLAGS_MEMO[0][2]
    returns = week_view(cleaned, week).surveys
    result = returns, credibility.flag_returns(returns, cleaned.config.credibility)
    with _FLAGS_LOCK:
        _FLAGS_MEMO[:] = [(weakref.ref(cleaned, _forget), week, result)]
    return result


def _forget(ref) -> None:
    """The cleaned tables are gone: let their flags go too."""
    with _FLAGS_LOCK:
        if _FLAGS_MEMO and _FLAGS_MEMO[0][0] is ref:
            _FLAGS_MEMO.clear()


def flags_table(cleaned, week: str) -> pd.DataFrame:
    """Return flags.csv's rows: every return flagged as of W, sorted by file and row."""
    returns, flags = week_flags(cleaned, week)
    hit = flags.any(axis=1)
    t = pd.DataFrame({"file": returns.loc[hit, "file"], "row": returns.loc[hit, "row"].astype("int64"),
                      "community": returns.loc[hit, "community"], "flags": credibility.flags_text(flags[hit]),
                      "submitted_at": pd.to_datetime(returns.loc[hit, "submitted_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")})
    return t.sort_values(["file", "row"], kind="stable")[FLAGS_COLUMNS].reset_index(drop=True)


def write_flags(cleaned, week: str, path: Path) -> int:
    """Write internal/W/flags.csv (UTF-8 with BOM); return its row count."""
    t = flags_table(cleaned, week)
    write_bytes(path, ("\ufeff" + t.to_csv(index=False, lineterminator="\n")).encode("utf-8"))
    return len(t)


def write_backchecks(cleaned, week: str, folder: Path, slugs: dict, failed: dict | None = None) -> dict:
    """Write internal/W/backcheck/<slug>.xlsx for each community; return community → rows.

    ``failed``: see ``own_file`` (the same for every per-community writer below)."""
    returns, flags = week_flags(cleaned, week)
    monday = pd.Timestamp(week_bounds(week)[0])
    in_week = (returns["date"] >= monday).to_numpy()
    out = {}
    for community, slug in slugs.items():
        rows = credibility.backcheck_rows(returns[in_week], flags[in_week], community, week)
        with own_file(community, failed):
            out[community] = credibility.write_backcheck(rows, cleaned.households, week, folder / f"{slug}.xlsx")
    return out


def collector_table(cleaned, week: str) -> pd.DataFrame:
    """Return flagged returns counted by the collector of the same-day visit to the household."""
    returns, flags = week_flags(cleaned, week)
    hit = flags.any(axis=1) & (returns["key"].astype(str) != "")
    r = returns[hit].assign(**{f: flags.loc[hit, f] for f in credibility.FLAGS})
    v = cleaned.visits[["community", "key", "date", "visitor", "role"]].drop_duplicates(["key", "date"], keep="last")
    m = r.merge(v, on=["community", "key", "date"], how="left")
    m["visitor"] = m["visitor"].fillna("").astype(str).replace("", "（无同日走访记录）")
    m["role"] = m["role"].fillna("other").map(ROLE_TEXT)
    g = m.groupby(["community", "visitor", "role"], sort=True).agg(
        flagged=("key", "size"), **{credibility.FLAG_TEXT[f]: (f, "sum") for f in credibility.FLAGS}).reset_index()
    return g.sort_values(["community", "flagged"], ascending=[True, False], kind="stable")


def write_collectors(cleaned, week: str, path: Path) -> int:
    """Write internal/W/collectors.xlsx: flagged returns by collector (personal data)."""
    g = collector_table(cleaned, week)
    header = ["社区", "走访人", "身份", "标记份数", *[credibility.FLAG_TEXT[f] for f in credibility.FLAGS]]
    rows = [[r[0], r[1], r[2], int(r[3]), *map(int, r[4:])] for r in g.itertuples(index=False)]
    _save(_workbook("按走访人", header, rows, week, "本周没有被标记的问卷"), path)
    return len(rows)


# --- section 11 ---------------------------------------------------------------------------------

SHOP_HEADER = ["商铺名称", "所在街路", "最近巡查日期", "存在问题", "处理措施", "整改期限", "是否超期"]
PROBLEM_TEXT = {"street_occupation": "占道/店外经营", "parking": "乱停乱放", "clutter": "乱堆乱放", "hygiene": "卫生",
                "posting": "乱张贴", "other": "其他"}
ACTION_TEXT = {"on_spot": "当场整改", "deadline": "限期整改", "enforcement": "执法/移交", "other": "其他", "none": ""}


def open_violations(cleaned, community: str, week: str) -> pd.DataFrame:
    """Return a community's shops whose latest inspection as of W failed, overdue ones first."""
    sunday = pd.Timestamp(week_bounds(week)[1])
    s = cleaned.shops
    s = s[(s["community"] == community) & (s["date"] <= sunday)]
    latest = s.sort_values(["date", "order"], kind="stable").drop_duplicates("shop_key", keep="last")
    bad = latest[latest["result"] == "fail"].copy()
    bad["overdue"] = bad["deadline"].notna() & (bad["deadline"] < sunday)
    return bad.sort_values(["overdue", "deadline", "shop"], ascending=[False, True, True], kind="stable")


def write_shop_lists(cleaned, week: str, folder: Path, slugs: dict, failed: dict | None = None) -> dict:
    """Write internal/W/shops/<slug>.xlsx: open violations for the next inspection round."""
    out = {}
    for community, slug in slugs.items():
        bad = open_violations(cleaned, community, week)
        masker = FreeTextMasker(cleaned.households.loc[cleaned.households["community"] == community, "name"])
        rows = [[masker.mask(str(r.shop)), str(r.street), r.date.date(),
                 "、".join(PROBLEM_TEXT.get(p, p) for p in str(r.problems).split(";") if p),
                 ACTION_TEXT.get(r.action, ""), r.deadline.date() if not pd.isna(r.deadline) else "",
                 "超期" if r.overdue else ""] for r in bad.itertuples(index=False)]
        with own_file(community, failed):
            _save(_workbook("未整改商铺", SHOP_HEADER, rows, week, "没有未整改的商铺"), folder / f"{slug}.xlsx")
            out[community] = len(rows)
    return out


RESPONSIBLE_HEADER = ["包户人", "户数", "已覆盖", "覆盖率", "未覆盖户（楼-单元-室）"]


def responsible_table(cleaned, community: str, week: str) -> pd.DataFrame:
    """Return per responsible person: households, reached, coverage and the unreached, lowest coverage first."""
    sunday = pd.Timestamp(week_bounds(week)[1])
    h = cleaned.households
    h = h[(h["community"] == community) & h["occupied"].astype(bool)].copy()
    h["reached"] = reached_households(h, cleaned.visits, sunday)  # the one definition of 已覆盖
    h["responsible"] = h["responsible"].fillna("").astype(str).replace("", "（未填包户人）")
    h["where"] = h["building"].astype(str) + "-" + h["unit"].astype(str).replace("", "0") + "-" + h["room"].astype(str)
    g = h.groupby("responsible", sort=True).agg(households=("key", "size"), reached=("reached", "sum"))
    g["coverage"] = g["reached"] / g["households"]
    g["unreached"] = h[~h["reached"]].groupby("responsible")["where"].agg(lambda s: "、".join(s))
    g["unreached"] = g["unreached"].fillna("")
    return g.reset_index().sort_values(["coverage", "responsible"], kind="stable")


def write_responsible(cleaned, week: str, folder: Path, slugs: dict, failed: dict | None = None) -> dict:
    """Write internal/W/responsible/<slug>.xlsx for communities whose registry names 包户人."""
    out = {}
    if "responsible" not in cleaned.households:
        return out
    for community, slug in slugs.items():
        t = responsible_table(cleaned, community, week)
        rows = [[mask_name(r.responsible) if not r.responsible.startswith("（") else r.responsible,
                 int(r.households), int(r.reached), round(float(r.coverage), 4), r.unreached]
                for r in t.itertuples(index=False)]
        wb = _workbook("包户到人", RESPONSIBLE_HEADER, rows, week, "住户台账中没有包户人")
        for (cell,) in wb.active.iter_rows(min_row=2, min_col=4, max_col=4):
            cell.number_format = "0.0%"  # 覆盖率 as 91.2%, not 0.9118
        with own_file(community, failed):
            _save(wb, folder / f"{slug}.xlsx")
            out[community] = len(rows)
    return out


# --- issues worklist (issue "From describing to directing") ---------------------------------------

ISSUE_HEADER = ["登记日期", "类别", "处理方式", "已过天数", "是否超期", "问题描述（已脱敏）"]


def write_issue_lists(cleaned, week: str, folder: Path, slugs: dict, overdue_days: int,
                      failed: dict | None = None) -> dict:
    """Write internal/W/issues/<slug>.xlsx: every open issue, overdue first, then by age."""
    sunday = pd.Timestamp(week_bounds(week)[1])
    out = {}
    i = cleaned.issues
    for community, slug in slugs.items():
        mine = i[i["community"] == community]
        state = issue_state(mine, sunday, overdue_days)  # the one definition of open and overdue
        open_ = mine[state.open].assign(days=state.age_days[state.open], overdue=state.overdue[state.open])
        open_ = open_.sort_values(["overdue", "days"], ascending=[False, False], kind="stable")
        masker = FreeTextMasker(cleaned.households.loc[cleaned.households["community"] == community, "name"])
        rows = [[r.raised.date(), r.category, HANDLING_LABELS.get(r.handling, ""), int(r.days),
                 "超期" if r.overdue else "", masker.mask(str(r.description))] for r in open_.itertuples(index=False)]
        with own_file(community, failed):
            _save(_workbook("未办结诉求", ISSUE_HEADER, rows, week, "没有未办结的诉求"), folder / f"{slug}.xlsx")
            out[community] = len(rows)
    return out
