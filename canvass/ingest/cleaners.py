"""One cleaner per input kind: every row ends cleaned or rejected with the first reason that applies.

Validation is vectorised: values are normalised column-wise and parsers run once per
distinct value. Each cleaner returns (clean table, rejects).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from canvass.config import Config
from canvass.ingest import kinds
from canvass.ingest.dates import parse_datetimes
from canvass.ingest.headers import ignored_headers
from canvass.ingest.normalize import map_unique
from canvass.ingest.records import FileRecord
from canvass.ingest.validate import (
    _HOURS,
    MISSING_ORDER,
    REJECT_COLUMNS,
    _col,
    _common_checks,
    _count,
    _empty,
    _isin,
    _mapped,
    _materials,
    _reject_frame,
    _stack_files,
    _Verdict,
    duplicate_rows,
    grid_key,
    grid_label,
)
from canvass.vocab import QUESTION_FIELDS

UNASSIGNED_GRID = "未分网格"


def _grids_from_config(rows: pd.DataFrame, config: Config, frames) -> pd.Series:
    """Return each registry row's grid: its own cell, else ``grids:`` by building, else 未分网格 (9.2)."""
    grid = _col(rows, "grid").astype(object).copy()
    no_column = map_unique(rows["_fields"], lambda s: "grid" not in s.split(",")).astype(bool)
    if no_column.any():
        lookup = {(c, b): name for c, grids in config.grids.items() for name, bs in grids.items() for b in bs}
        pairs = list(zip(rows.loc[no_column, "community"], rows.loc[no_column, "building"].astype(str)))
        grid.loc[no_column] = [lookup.get(p, UNASSIGNED_GRID) for p in pairs]
        unassigned = no_column & (grid == UNASSIGNED_GRID) & rows["building"].notna()
        for idx, count in rows.loc[unassigned, "_fileidx"].value_counts().items():
            frames[int(idx)][2].unassigned_grid = int(count)
    return grid


def clean_households(frames, config: Config | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (registry households, rejects) from the households files."""
    config = config or Config()
    rows = _stack_files(frames, "households")
    cols = ["community", "grid", "grid_label", "building", "unit", "room", "key", "occupied",
            "name", "phone", "occupancy", "file", "row"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    rows["grid"] = _grids_from_config(rows, config, frames)
    v = _Verdict(rows.index)
    for fname in MISSING_ORDER["households"]:
        if fname == "address":
            v.reject(rows["_addr_missing"], "missing address", "address")
        else:
            v.reject(_col(rows, fname) == "", f"missing {fname}", fname)
    v.reject(rows["_addr_bad"], "unparseable address", "address")
    occ = _col(rows, "occupancy").map(kinds.OCCUPANCY)
    v.reject(occ.isna(), "unknown occupancy", "occupancy")
    dup = v.ok & rows["_key"].where(v.ok).duplicated(keep="first") & v.ok
    v.reject(dup, "duplicate household", "address")
    rejects = _reject_frame("households", rows, v, None)
    ok = rows[v.ok]
    grid_keys = map_unique(ok["grid"], grid_key)
    out = pd.DataFrame({
        "community": ok["community"], "grid": grid_keys, "grid_label": map_unique(grid_keys, grid_label),
        "building": ok["building"], "unit": ok["unit"], "room": ok["room"], "key": ok["_key"],
        "occupied": occ[v.ok] == "occupied", "name": _col(ok, "name"), "phone": _col(ok, "phone"),
        "responsible": _col(ok, "responsible"),
        "occupancy": _col(ok, "occupancy"), "file": ok["_file"], "row": ok["_row"],
    }).reset_index(drop=True)
    return out, rejects


def clean_visits(frames, known: set, registry: set):
    """Return (visits, rejects)."""
    rows = _stack_files(frames, "visits")
    cols = ["date", "community", "key", "building", "unit", "room", "outcome", "materials", "visitor", "file", "row", "order"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    v, date = _common_checks("visits", rows, known)
    v.reject(rows["_addr_bad"], "unparseable address", "address")
    v.reject(~_isin(rows["_key"], registry), "unknown household", "address")
    outcome = _col(rows, "outcome").map(kinds.OUTCOMES)
    v.reject(outcome.isna(), "unknown outcome", "outcome")
    materials, bad_mat = _materials(_col(rows, "materials"))
    v.reject(bad_mat, "bad materials count", "materials")
    canon = pd.DataFrame({"community": rows["community"], "address": rows["_key"], "outcome": outcome,
                          "materials": materials, "visitor": _col(rows, "visitor")})
    v.reject(duplicate_rows(canon, v.ok, _mapped(rows), date), "duplicate row")
    rejects = _reject_frame("visits", rows, v, date)
    ok = v.ok
    out = pd.DataFrame({
        "date": date[ok].dt.normalize(), "community": rows.loc[ok, "community"], "key": rows.loc[ok, "_key"],
        "building": rows.loc[ok, "building"], "unit": rows.loc[ok, "unit"], "room": rows.loc[ok, "room"],
        "outcome": outcome[ok], "materials": materials[ok], "visitor": _col(rows, "visitor")[ok],
        "role": visitor_roles(_col(rows, "visitor")[ok], _col(rows, "role")[ok]),
        "file": rows.loc[ok, "_file"], "row": rows.loc[ok, "_row"],
    }).reset_index(drop=True)
    out["order"] = np.arange(len(out))
    return out, rejects


_INTEGER_CELL = re.compile(r"^-?\d+$")


def _is_coded_file(frame: pd.DataFrame, cmap) -> bool:
    """Return True when one of a survey file's question columns holds only integers (9.7)."""
    cols = [frame[q] for q in QUESTION_FIELDS if q in frame]
    cols += [frame.attrs.get("candidates", {})[c] for f, cs in cmap.candidates.items() if f in QUESTION_FIELDS
             for c in cs]
    for values in cols:
        nb = values[values != ""]
        distinct = pd.unique(nb.to_numpy(dtype=object))  # regex on distinct answers, not every cell
        if len(distinct) and all(_INTEGER_CELL.match(v) for v in distinct):
            return True
    return False


def _coded_blanks(frame: pd.DataFrame) -> None:
    """In a coded download -2 and -3 (empty, skipped) are blank in every field (9.6)."""
    for c in frame.columns:
        if not c.startswith("_") and c not in QUESTION_FIELDS:
            frame[c] = frame[c].mask(frame[c].isin(kinds.CODED_BLANKS), "")


def duplicate_returns(rows: pd.DataFrame, stamp: pd.Series, coded: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Return (is a duplicate return, file index of the copy kept) for survey rows (9.8)."""
    n = len(rows)
    dup = np.zeros(n, bool)
    kept_in = np.full(n, -1)
    if n == 0:
        return pd.Series(dup, index=rows.index), pd.Series(kept_in, index=rows.index)
    has_time = ((stamp - stamp.dt.normalize()) != pd.Timedelta(0)).fillna(False).to_numpy()
    sid = _col(rows, "sheet_id").to_numpy(dtype=object)
    comm = _col(rows, "community").to_numpy(dtype=object)
    ok = (comm != "") & stamp.notna().to_numpy() & (has_time | (sid != ""))
    # Perf: (community code, time stamp) as two integer columns, not a "community|time" string
    # per row (1M Python strings at the peak of cleaning).
    key = pd.DataFrame({"c": pd.factorize(comm)[0], "t": stamp.to_numpy(dtype="datetime64[ns]").view("i8")})
    cand = ok & key.duplicated(keep=False).to_numpy()
    if not cand.any():
        return pd.Series(dup, index=rows.index), pd.Series(kept_in, index=rows.index)
    idx = np.flatnonzero(cand)
    sub = key.iloc[idx].reset_index(drop=True).assign(i=idx)
    m = sub.merge(sub.rename(columns={"i": "j"}), on=["c", "t"])
    fi, fj = rows["_fileidx"].to_numpy()[m["i"]], rows["_fileidx"].to_numpy()[m["j"]]
    m = m[fi != fj]
    i, j = m["i"].to_numpy(), m["j"].to_numpy()
    same = (has_time[i] & has_time[j]) | ((sid[i] != "") & (sid[j] != ""))
    fields = rows["_fields"]
    for f in ("sheet_id", "duration", "client"):
        vals = _col(rows, f).to_numpy(dtype=object)
        has = map_unique(fields, lambda s, f=f: f in s.split(",")).to_numpy(dtype=bool)  # once per file layout
        both = has[i] & has[j]
        same &= ~both | (vals[i] == vals[j])
    i, j = i[same], j[same]
    fidx = rows["_fileidx"].to_numpy()
    ci, cj = coded[fidx[i]], coded[fidx[j]]
    better = (~ci & cj) | ((ci == cj) & (fidx[i] < fidx[j]))  # i's copy is kept over j's
    dup[j[better]] = True
    kept_in[j[better]] = fidx[i[better]]
    return pd.Series(dup, index=rows.index), pd.Series(kept_in, index=rows.index)


def _judge_survey_file(frame: pd.DataFrame, cmap, record: FileRecord, config: Config, known: set) -> pd.DataFrame:
    """Return a file's answer codes per question, choosing columns by their answers (9.5–9.7)."""
    from canvass.ingest.answers import choose_columns, read_column

    cands = frame.attrs.get("candidates", {})
    choices, notes = choose_columns(cands, cmap, record.file, config, known)
    record.notes += [{"field": f, "header": str(h).strip(), "why": w} for f, h, w in notes
                     if f in QUESTION_FIELDS or w == "comment_extra"]
    out = pd.DataFrame(index=frame.index)
    for q in QUESTION_FIELDS:
        if q in cmap.alias:
            values, col = frame[q], cmap.fields[q]
        elif q in choices:
            values, col = cands[choices[q]], choices[q]
        else:
            cmap.fields.pop(q, None)
            out[q] = np.int8(-1)
            continue
        cmap.fields[q] = col
        codes, reading = read_column(values, q, str(cmap.headers[col]).strip(), record.file, config)
        out[q] = codes.to_numpy()
        record.readings.append(reading.to_json())
    record.columns = {f: str(cmap.headers[i]).strip() for f, i in cmap.fields.items()}
    record.ignored_columns = ignored_headers(cmap.headers, cmap.fields)
    return out


def clean_surveys(frames, known: set, registry: set, config: Config):
    """Return (survey returns before de-duplication by household, rejects)."""
    qcols = list(QUESTION_FIELDS)
    cols = ["submitted_at", "date", "community", "key", "anonymous", *qcols, "comment", "duration", "client",
            "sheet_id", "file", "row", "order"]
    coded = np.array([_is_coded_file(frame, cmap) for frame, cmap, _ in frames], dtype=bool)
    for (frame, _cmap, _rec), is_coded in zip(frames, coded):
        if is_coded:
            _coded_blanks(frame)
    rows = _stack_files(frames, "surveys")
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    stamp = parse_datetimes(_col(rows, "submitted_at"))
    dup, kept_in = duplicate_returns(rows, stamp, coded)
    codes = []
    for i, (frame, cmap, record) in enumerate(frames):
        mine = (rows["_fileidx"] == i).to_numpy()
        if mine.any() and dup.to_numpy()[mine].all():
            record.duplicate_of = frames[int(np.bincount(kept_in.to_numpy()[mine]).argmax())][2].file
            codes.append(pd.DataFrame(np.int8(-1), index=frame.index, columns=qcols))
        else:
            codes.append(_judge_survey_file(frame, cmap, record, config, known))
        frame.attrs.pop("candidates", None)  # judged: the candidate columns are no longer needed
    answers = pd.concat(codes, ignore_index=True) if codes else pd.DataFrame(columns=qcols)
    v, stamp = _common_checks("surveys", rows, known, first=(dup, "duplicate return"))
    v.reject(rows["_addr_bad"] | (rows["_addr_present"] & rows["_addr_missing"]), "unparseable address", "address")
    v.reject(rows["_addr_present"] & ~_isin(rows["_key"], registry), "unknown household", "address")
    rejects = _reject_frame("surveys", rows, v, stamp)
    ok = v.ok
    from canvass.ingest.answers import client_text, duration_seconds
    out = pd.DataFrame({
        "submitted_at": stamp[ok], "date": stamp[ok].dt.normalize(), "community": rows.loc[ok, "community"],
        "key": rows.loc[ok, "_key"].where(rows.loc[ok, "_addr_present"], ""),
        "anonymous": ~rows.loc[ok, "_addr_present"].astype(bool),
    })
    for q in qcols:
        out[q] = answers.loc[ok.to_numpy(), q].to_numpy().astype("int8")
    out["comment"] = _col(rows, "comment")[ok]
    out["duration"] = duration_seconds(_col(rows, "duration")[ok])
    out["client"] = client_text(_col(rows, "client")[ok].astype(str))
    out["sheet_id"] = _col(rows, "sheet_id")[ok]
    out["file"] = rows.loc[ok, "_file"]
    out["row"] = rows.loc[ok, "_row"]
    out = out.reset_index(drop=True)
    out["order"] = np.arange(len(out))
    return out, rejects


def visitor_roles(visitor: pd.Series, role: pd.Series) -> pd.Series:
    """Return each visit's visitor role (section 11): the 身份 column when filled, else the visitor text."""
    text = role.where(role != "", visitor)
    return map_unique(text, lambda s: kinds.classify(s, kinds.ROLES)).astype(object)


def clean_activities(frames, known: set) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (volunteer activities, rejects) — 志愿服务与活动记录 (section 11)."""
    rows = _stack_files(frames, "activities")
    cols = ["date", "community", "kind", "activity", "participants", "party_members", "hours", "spots", "grid",
            "file", "row"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    v, date = _common_checks("activities", rows, known)
    participants, bad_p = _count(_col(rows, "participants"))
    party, bad_party = _count(_col(rows, "party_members"))
    hours, bad_h = _count(_col(rows, "hours"), _HOURS)
    spots, bad_s = _count(_col(rows, "spots"))
    v.reject(bad_p, "bad count", "participants")
    v.reject(bad_party | (party > participants), "bad count", "party_members")
    v.reject(bad_h, "bad count", "hours")
    v.reject(bad_s, "bad count", "spots")
    canon = pd.DataFrame({"community": rows["community"], "kind": _col(rows, "kind"), "participants": participants,
                          "party_members": party, "hours": hours, "spots": spots, "grid": _col(rows, "grid")})
    v.reject(duplicate_rows(canon, v.ok, _mapped(rows), date), "duplicate row")
    rejects = _reject_frame("activities", rows, v, date)
    ok = v.ok
    out = pd.DataFrame({
        "date": date[ok].dt.normalize(), "community": rows.loc[ok, "community"],
        "kind": map_unique(_col(rows, "kind")[ok], lambda s: kinds.classify(s, kinds.ACTIVITY_KINDS)),
        "activity": _col(rows, "kind")[ok], "participants": participants[ok].astype("int64"),
        "party_members": party[ok].astype("int64"), "hours": hours[ok].astype("float64"),
        "spots": spots[ok].astype("int64"), "grid": _col(rows, "grid")[ok],
        "file": rows.loc[ok, "_file"], "row": rows.loc[ok, "_row"],
    }).reset_index(drop=True)
    return out, rejects


_PROBLEM_SPLIT = r"[、，,;；┋/]"


def shop_problems(text: str) -> tuple:
    """Return the problem kinds a shop inspection names (several, split on 、，,;；┋/)."""
    import re as _re
    parts = [p.strip() for p in _re.split(_PROBLEM_SPLIT, text) if p.strip()]
    return tuple(dict.fromkeys(kinds.classify(p, kinds.PROBLEM_KINDS) for p in parts))


def clean_shops(frames, known: set) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (shop inspections, rejects) — 门前三包巡查记录 (section 11)."""
    rows = _stack_files(frames, "shops")
    cols = ["date", "community", "shop", "shop_key", "result", "problems", "action", "deadline", "signed",
            "street", "file", "row", "order"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    v, date = _common_checks("shops", rows, known)
    deadline_text = _col(rows, "deadline")
    deadline = parse_datetimes(deadline_text)
    v.reject((deadline_text != "") & deadline.isna(), "bad date", "deadline")
    result = _col(rows, "result").map(kinds.SHOP_RESULTS)
    v.reject(result.isna(), "unknown result", "result")
    shop_key = rows["community"].astype(str) + "|" + _col(rows, "shop").str.replace(r"\s+", "", regex=True)
    signed = _col(rows, "signed").map(kinds.SHOP_SIGNED).fillna("unknown")
    action_text = _col(rows, "action")
    action = map_unique(action_text, lambda s: "none" if s == "" else kinds.classify(s, kinds.ACTIONS)).astype(object)
    canon = pd.DataFrame({"community": rows["community"], "shop": shop_key, "result": result,
                          "problems": _col(rows, "problems"), "action": action_text,
                          "deadline": deadline.astype(str), "signed": signed, "street": _col(rows, "street")})
    v.reject(duplicate_rows(canon, v.ok, _mapped(rows), date), "duplicate row")
    # Of several remaining inspections of one shop on one day, the last in file order stands.
    day = date.dt.normalize().astype(str)
    later = v.ok & (shop_key + "|" + day).where(v.ok).duplicated(keep="last")
    v.reject(later, "superseded", "shop")
    rejects = _reject_frame("shops", rows, v, date)
    ok = v.ok
    out = pd.DataFrame({
        "date": date[ok].dt.normalize(), "community": rows.loc[ok, "community"], "shop": _col(rows, "shop")[ok],
        "shop_key": shop_key[ok], "result": result[ok],
        "problems": map_unique(_col(rows, "problems")[ok], lambda s: ";".join(shop_problems(s))).astype(object),
        "action": action[ok], "deadline": deadline[ok].dt.normalize(), "signed": signed[ok],
        "street": _col(rows, "street")[ok], "file": rows.loc[ok, "_file"], "row": rows.loc[ok, "_row"],
    }).reset_index(drop=True)
    out["order"] = np.arange(len(out))
    return out, rejects


def clean_issues(frames, known: set, config: Config):
    """Return (issues, rejects)."""
    rows = _stack_files(frames, "issues")
    cols = ["raised", "community", "category", "description", "handling", "status", "resolved",
            "address", "file", "row"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    v, raised = _common_checks("issues", rows, known)
    status = _col(rows, "status").map(kinds.STATUSES)
    resolved_text = _col(rows, "resolved")
    resolved = parse_datetimes(resolved_text)
    is_resolved = status == "resolved"
    bad_resolved = is_resolved & (resolved_text != "") & (resolved.isna() | (resolved.dt.normalize() < raised.dt.normalize()))
    v.reject(bad_resolved, "bad date", "resolved")
    v.reject(status.isna(), "unknown status", "status")
    cats = set(config.issue_categories)
    category = _col(rows, "category").where(_col(rows, "category").isin(cats), "其他")
    handling = _col(rows, "handling").map(kinds.HANDLING).fillna("unknown")
    effective = resolved.dt.normalize().where(resolved_text != "", raised.dt.normalize())
    effective = effective.where(is_resolved)
    address = _col(rows, "address") if "address" in rows else pd.Series("", index=rows.index)
    canon = pd.DataFrame({"community": rows["community"], "category": _col(rows, "category"),
                          "description": _col(rows, "description"), "handling": handling, "status": status,
                          "resolved": effective.astype(str), "address": _col(rows, "address")})
    v.reject(duplicate_rows(canon, v.ok, _mapped(rows), raised), "duplicate row")
    rejects = _reject_frame("issues", rows, v, raised)
    ok = v.ok
    out = pd.DataFrame({
        "raised": raised[ok].dt.normalize(), "community": rows.loc[ok, "community"], "category": category[ok],
        "description": _col(rows, "description")[ok], "handling": handling[ok], "status": status[ok],
        "resolved": effective[ok], "address": address[ok], "file": rows.loc[ok, "_file"], "row": rows.loc[ok, "_row"],
    }).reset_index(drop=True)
    return out, rejects
