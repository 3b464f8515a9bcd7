"""Clean the four input kinds without losing a row.

Every data row of every file ends in exactly one place: a cleaned table or the rejects
(with file, Excel row number and reason). Validation is vectorised: values are
normalised column-wise, and parsers run once per distinct value.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from canvass.config import KINDS, Config
from canvass.errors import InputError
from canvass.ingest import kinds
from canvass.ingest.address import parse_address_column, parse_split_columns
from canvass.ingest.dates import parse_datetimes
from canvass.ingest.normalize import (
    CN_NUMERAL,
    map_unique,
    normalize_header,
    normalize_values,
    number_text,
)
from canvass.ingest.readers import list_input_files, read_sheet
from canvass.vocab import QUESTION_FIELDS, reason_text

HEADER_SCAN_ROWS = 10
REJECT_COLUMNS = ["file", "row", "community", "field", "reason", "说明", "raw"]
MISSING_ORDER = {
    "households": ("community", "grid", "address"),
    "visits": ("date", "community", "address", "outcome"),
    "surveys": ("submitted_at", "community"),
    "issues": ("raised", "community", "status"),
}
DATE_FIELD = {"visits": "date", "surveys": "submitted_at", "issues": "raised"}


@dataclass
class FileRecord:
    """One input file as read: where it is, its hash, and how its rows were counted."""

    kind: str
    file: str
    sha256: str
    data_rows: int = 0
    blank_rows: int = 0
    header_row: int = 0
    ignored_columns: list = field(default_factory=list)


@dataclass
class Cleaned:
    """Cleaned tables of one data folder, and every rejected row with its reason."""

    households: pd.DataFrame
    visits: pd.DataFrame
    surveys: pd.DataFrame
    issues: pd.DataFrame
    rejects: pd.DataFrame
    files: list
    communities: list
    config: Config
    raw: dict = field(default_factory=dict, repr=False)

    def community_slice(self, community: str) -> "Cleaned":
        """Return the tables restricted to one community (rejects of other communities dropped)."""
        pick = lambda df: df[df["community"] == community].reset_index(drop=True)
        return Cleaned(pick(self.households), pick(self.visits), pick(self.surveys), pick(self.issues),
                       pick(self.rejects), self.files, [community], self.config)


# --- reading -----------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _find_header(cells: pd.DataFrame, spec, extra: dict, file: str) -> int:
    wanted = kinds.required_aliases(spec, extra)

    def keyword_required(h: str) -> bool:
        # Fix: a survey whose community column is recognised only by keyword rule 8
        # (``请选择您居住的社区``) had one alias hit and "no header row"; the first matching
        # keyword rule giving a required field now counts as a hit (surveys only).
        if not spec.keyword_rules or h in wanted or h in spec.ignored:
            return False
        rule = next((f for f, r in kinds.KEYWORD_RULES if r(h)), None)
        return rule in spec.required

    for i in range(min(HEADER_SCAN_ROWS, len(cells))):
        row = cells.iloc[i]
        norm = [normalize_header(v) for v in row if str(v).strip()]
        hits = sum(1 for h in norm if h in wanted or keyword_required(h))
        if hits >= 2:
            return i
    need = "、".join(f for f in MISSING_ORDER[spec.kind])
    raise InputError(f"前 {HEADER_SCAN_ROWS} 行中找不到表头 no header row found", file=file,
                     expected=f"表头行至少有两列是 {need} 的列名（如 社区、日期、地址）")


def read_kind(data_dir: Path, kind: str, config: Config):
    """Return (rows, file records, raw sheets) for every file of one kind, in file order."""
    spec = kinds.SPECS[kind]
    frames, records, raws = [], [], {}
    for path in list_input_files(data_dir / kind):
        rel = path.relative_to(data_dir).as_posix()
        sheet = read_sheet(path, rel)
        record = FileRecord(kind, rel, _sha256(path))
        records.append(record)
        cells = sheet.cells
        if cells.shape[0] == 0:
            raise InputError("文件中没有表头 no header", file=rel, expected="带表头的表格")
        h = _find_header(cells, spec, config.aliases, rel)
        headers = [str(v) for v in cells.iloc[h]]
        cmap = kinds.map_columns(headers, spec, config.aliases, rel)
        record.header_row = h + 1
        record.ignored_columns = cmap.ignored
        body = cells.iloc[h + 1:]
        body = body.set_axis(pd.RangeIndex(len(body)), axis=0)
        stripped = body.apply(lambda c: c.astype(str).str.strip()) if len(body) else body
        blank = (stripped == "").all(axis=1) if len(body) else pd.Series([], dtype=bool)
        record.blank_rows = int(blank.sum())
        record.data_rows = int((~blank).sum())
        keep = body[~blank.to_numpy()]
        frame = pd.DataFrame(index=keep.index)
        for fname, col in cmap.fields.items():
            frame[fname] = normalize_values(keep[col])
        frame["_file"] = rel
        frame["_row"] = (keep.index.to_numpy() + h + 2).astype("int64")
        frame.attrs["split"] = cmap.split_address
        frames.append((frame, cmap))
        body.attrs["first_excel_row"] = h + 2
        raws[rel] = (headers, body)
    return frames, records, raws


# --- validation helpers --------------------------------------------------------------

class _Verdict:
    """Collects the first reason (and field) that rejects each row, in the contract's order."""

    def __init__(self, index):
        self.reason = pd.Series("", index=index, dtype=object)
        self.field = pd.Series("", index=index, dtype=object)

    def reject(self, mask, reason: str, fname: str = ""):
        mask = pd.Series(mask, index=self.reason.index).fillna(False).astype(bool) & (self.reason == "")
        self.reason[mask] = reason
        self.field[mask] = fname

    @property
    def ok(self) -> pd.Series:
        return self.reason == ""


def _isin(values: pd.Series, allowed) -> pd.Series:
    """Return ``values.isin(allowed)`` for text values (NA is never in ``allowed``)."""
    # Perf: pandas' isin on arrow strings boxes every allowed value in Python (~0.4 s per call
    # against a 200,000-household registry); pyarrow's is_in hashes them in C++.
    arr = pa.array(values.astype("str"), from_pandas=True)
    value_set = pa.array([str(a) for a in allowed], type=arr.type)
    hit = pc.is_in(arr, value_set=value_set).to_numpy(zero_copy_only=False)
    return pd.Series(hit.astype(bool), index=values.index)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series("", index=frame.index, dtype=object)


def _address_parts(frame: pd.DataFrame, communities: pd.Series) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return (parts, missing, present) for a kind's address columns."""
    idx = frame.index
    if frame.attrs.get("split"):
        b, r = _col(frame, "building"), _col(frame, "room")
        u = frame["unit"] if "unit" in frame else None
        parts = parse_split_columns(b, u, r)
        present = (b != "") | (r != "") | ((u != "") if u is not None else False)
        missing = (b == "") | (r == "")
    elif "address" in frame:
        a = frame["address"]
        parts = parse_address_column(a, communities)
        present = a != ""
        missing = a == ""
    else:
        parts = pd.DataFrame({"building": pd.NA, "unit": pd.NA, "room": pd.NA}, index=idx, dtype=object)
        present = pd.Series(False, index=idx)
        missing = pd.Series(True, index=idx)
    return parts, missing, present


def _keys(community: pd.Series, parts: pd.DataFrame) -> pd.Series:
    ok = parts["building"].notna() & parts["room"].notna() & parts["unit"].notna()
    keys = community.astype(str) + "|" + parts["building"].astype(str) + "|" + parts["unit"].astype(str) + "|" + parts["room"].astype(str)
    return keys.where(ok, "")


_GRID_RE = re.compile(rf"^(?:第)?(\d+|{CN_NUMERAL})(?:号)?(?:网格)?$")


def grid_key(text: str) -> str:
    """Return a grid's comparable key: its number when it has one (``第1网格`` → ``1``)."""
    m = _GRID_RE.match(text.replace(" ", ""))
    if m:
        n = number_text(m.group(1))
        if n is not None:
            return n
    return text


def grid_label(key: str) -> str:
    """Return a grid's display label (``1`` → ``第1网格``)."""
    return f"第{key}网格" if key.isdigit() else key


_MATERIALS_RE = r"^(\d+)(?:\.0+)?(?:份)?$"


def _materials(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (count, bad) for materials cells: blank → 0, ``2``/``2.0``/``2份`` → 2."""
    digits = values.str.extract(_MATERIALS_RE, expand=False)
    bad = (values != "") & digits.isna()
    counts = pd.to_numeric(digits, errors="coerce").fillna(0).astype("int64")
    return counts, bad


# --- the four kinds ------------------------------------------------------------------

def _reject_frame(kind: str, rows: pd.DataFrame, verdict: _Verdict, date: pd.Series | None) -> pd.DataFrame:
    bad = ~verdict.ok
    r = pd.DataFrame({
        "file": rows.loc[bad, "_file"], "row": rows.loc[bad, "_row"],
        "community": _col(rows, "community")[bad],
        "field": verdict.field[bad], "reason": verdict.reason[bad],
    })
    r["kind"] = kind
    r["date"] = date[bad] if date is not None else pd.Series(pd.NaT, index=r.index, dtype="datetime64[ns]")
    r["household"] = rows.loc[bad, "_key"] if "_key" in rows else ""
    return r


def _stack_files(frames):
    """Return all rows of a kind with parsed address keys, per-file address layouts handled."""
    stacked = []
    for frame, _cmap in frames:
        f = frame.copy()
        comm = _col(f, "community")
        parts, missing, present = _address_parts(f, comm)
        f["_addr_missing"] = missing.to_numpy()
        f["_addr_present"] = present.to_numpy()
        # Fix: an unreadable unit cell (split columns, e.g. ``甲单元``) is unparseable too; before,
        # only building/room were checked, so such a row got the empty key "" and was kept.
        f["_addr_bad"] = (present & (parts["building"].isna() | parts["unit"].isna()
                                     | parts["room"].isna())).to_numpy()
        f["building"] = parts["building"].to_numpy()
        f["unit"] = parts["unit"].to_numpy()
        f["room"] = parts["room"].to_numpy()
        f["_key"] = _keys(comm, parts).to_numpy()
        f.attrs = {}
        stacked.append(f)
    if not stacked:
        return None
    return pd.concat(stacked, ignore_index=True)


_DATE_COLUMNS = {"date", "submitted_at", "raised", "resolved"}


def _empty(columns) -> pd.DataFrame:
    # Fix: date columns of an empty table are datetime64 (as when rows exist); with object
    # dtype, compute_metrics crashed on a folder without issue files (``.dt`` on object).
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in _DATE_COLUMNS else object)
                         for c in columns})


def clean_households(frames) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (registry households, rejects) from the households files."""
    rows = _stack_files(frames)
    cols = ["community", "grid", "grid_label", "building", "unit", "room", "key", "occupied",
            "name", "phone", "occupancy", "file", "row"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
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
        "occupancy": _col(ok, "occupancy"), "file": ok["_file"], "row": ok["_row"],
    }).reset_index(drop=True)
    return out, rejects


def _common_checks(kind: str, rows: pd.DataFrame, known: set):
    v = _Verdict(rows.index)
    for fname in MISSING_ORDER[kind]:
        if fname == "address":
            v.reject(rows["_addr_missing"], "missing address", "address")
        else:
            v.reject(_col(rows, fname) == "", f"missing {fname}", fname)
    if kind == "surveys":
        # Fix (contract, precise rules): with split address columns a blank building or room is
        # `missing address` (a missing field, so it comes before unknown community); before, a
        # partly filled split address was rejected later as `unparseable address`. A return
        # with every address cell blank stays an anonymous return.
        v.reject(rows["_addr_present"] & rows["_addr_missing"], "missing address", "address")
    v.reject(~_isin(_col(rows, "community"), known), "unknown community", "community")
    dfield = DATE_FIELD[kind]
    date = parse_datetimes(_col(rows, dfield))
    v.reject(date.isna(), "bad date", dfield)
    return v, date


def clean_visits(frames, known: set, registry: set):
    """Return (visits, rejects)."""
    rows = _stack_files(frames)
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
    canon = pd.DataFrame({"d": date, "c": rows["community"], "k": rows["_key"], "o": outcome,
                          "m": materials, "v": _col(rows, "visitor")})
    dup = v.ok & canon[v.ok].duplicated(keep="first").reindex(rows.index, fill_value=False)
    v.reject(dup, "duplicate row")
    rejects = _reject_frame("visits", rows, v, date)
    ok = v.ok
    out = pd.DataFrame({
        "date": date[ok].dt.normalize(), "community": rows.loc[ok, "community"], "key": rows.loc[ok, "_key"],
        "building": rows.loc[ok, "building"], "unit": rows.loc[ok, "unit"], "room": rows.loc[ok, "room"],
        "outcome": outcome[ok], "materials": materials[ok], "visitor": _col(rows, "visitor")[ok],
        "file": rows.loc[ok, "_file"], "row": rows.loc[ok, "_row"],
    }).reset_index(drop=True)
    out["order"] = np.arange(len(out))
    return out, rejects


def _answer_codes(values: pd.Series, question: str, config: Config) -> pd.Series:
    """Return 1 positive, 0 negative, -1 unanswered, -2 invalid for one question's answers."""
    pos, neg = kinds.ANSWERS[question]
    extra = config.answers.get(question, {})
    pos = tuple(pos) + tuple(extra.get("positive", ()))
    neg = tuple(neg) + tuple(extra.get("negative", ()))
    mapping = {a: -1 for a in kinds.UNANSWERED}
    mapping.update({a: 0 for a in neg})
    mapping.update({a: 1 for a in pos})
    return values.map(mapping).fillna(-2).astype("int8")


def clean_surveys(frames, known: set, registry: set, config: Config):
    """Return (survey returns before de-duplication, rejects)."""
    rows = _stack_files(frames)
    qcols = list(QUESTION_FIELDS)
    cols = ["submitted_at", "date", "community", "key", "anonymous", *qcols, "comment", "file", "row", "order"]
    if rows is None:
        return _empty(cols), _empty(REJECT_COLUMNS)
    v, stamp = _common_checks("surveys", rows, known)
    v.reject(rows["_addr_bad"] | (rows["_addr_present"] & rows["_addr_missing"]), "unparseable address", "address")
    v.reject(rows["_addr_present"] & ~_isin(rows["_key"], registry), "unknown household", "address")
    rejects = _reject_frame("surveys", rows, v, stamp)
    ok = v.ok
    out = pd.DataFrame({
        "submitted_at": stamp[ok], "date": stamp[ok].dt.normalize(), "community": rows.loc[ok, "community"],
        "key": rows.loc[ok, "_key"].where(rows.loc[ok, "_addr_present"], ""),
        "anonymous": ~rows.loc[ok, "_addr_present"].astype(bool),
    })
    for q in qcols:
        out[q] = _answer_codes(_col(rows, q)[ok], q, config)
    out["comment"] = _col(rows, "comment")[ok]
    out["file"] = rows.loc[ok, "_file"]
    out["row"] = rows.loc[ok, "_row"]
    out = out.reset_index(drop=True)
    out["order"] = np.arange(len(out))
    return out, rejects


def clean_issues(frames, known: set, config: Config):
    """Return (issues, rejects)."""
    rows = _stack_files(frames)
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
    canon = pd.DataFrame({"r": raised, "c": rows["community"], "cat": _col(rows, "category"),
                          "d": _col(rows, "description"), "h": handling, "s": status,
                          "rs": effective, "a": _col(rows, "address")})
    dup = v.ok & canon[v.ok].duplicated(keep="first").reindex(rows.index, fill_value=False)
    v.reject(dup, "duplicate row")
    rejects = _reject_frame("issues", rows, v, raised)
    ok = v.ok
    out = pd.DataFrame({
        "raised": raised[ok].dt.normalize(), "community": rows.loc[ok, "community"], "category": category[ok],
        "description": _col(rows, "description")[ok], "handling": handling[ok], "status": status[ok],
        "resolved": effective[ok], "address": address[ok], "file": rows.loc[ok, "_file"], "row": rows.loc[ok, "_row"],
    }).reset_index(drop=True)
    return out, rejects


def check_data_folder(data_dir: Path) -> Path:
    """Return ``data_dir`` if it exists with its four sub-folders, else raise InputError."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("数据文件夹不存在 data folder not found", file=str(data_dir),
                         expected="含 households/ visits/ surveys/ issues/ 子文件夹的文件夹")
    for kind in KINDS:
        if not (data_dir / kind).is_dir():
            raise InputError(f"缺少子文件夹 missing sub-folder: {kind}/", file=str(data_dir),
                             expected="households/ visits/ surveys/ issues/ 四个子文件夹")
    return data_dir


def clean_folder(data_dir: Path, config: Config) -> Cleaned:
    """Read and clean every input of a data folder; raise InputError for unreadable files."""
    data_dir = check_data_folder(data_dir)
    read = {kind: read_kind(data_dir, kind, config) for kind in KINDS}
    files = [r for kind in KINDS for r in read[kind][1]]
    raws = {k: v for kind in KINDS for k, v in read[kind][2].items()}

    households, rej_h = clean_households(read["households"][0])
    order = list(dict.fromkeys([c for c in config.communities] + [c for c in pd.unique(households["community"])]))
    reg_comms = set()
    for frame, _ in read["households"][0]:
        reg_comms.update(c for c in pd.unique(_col(frame, "community")) if c)
    for c in sorted(reg_comms - set(order)):
        order.append(c)
    known = set(order)
    registry = set(households["key"])
    visits, rej_v = clean_visits(read["visits"][0], known, registry)
    surveys, rej_s = clean_surveys(read["surveys"][0], known, registry, config)
    issues, rej_i = clean_issues(read["issues"][0], known, config)
    rejects = pd.concat([r for r in (rej_h, rej_v, rej_s, rej_i) if len(r)], ignore_index=True) \
        if any(len(r) for r in (rej_h, rej_v, rej_s, rej_i)) else _empty(REJECT_COLUMNS + ["kind", "date", "household"])
    rejects = attach_raw(rejects, raws)
    surveys = attach_survey_raw(surveys, raws)
    return Cleaned(households, visits, surveys, issues, rejects, files, order, config, raw=raws)


def attach_survey_raw(surveys: pd.DataFrame, raws: dict) -> pd.DataFrame:
    """Return surveys with ``raw`` filled for returns that a later one could supersede.

    Only households with more than one return can have a superseded row, so only those
    rows keep their original cells (for rejects.csv); the raw sheets can then be freed.
    """
    surveys = surveys.copy()
    surveys["raw"] = ""
    if len(surveys):
        named = ~surveys["anonymous"].astype(bool)
        repeated = named & surveys["key"].duplicated(keep=False)
        if repeated.any():
            filled = attach_raw(surveys.loc[repeated, ["file", "row"]].assign(reason=""), raws)
            surveys.loc[repeated, "raw"] = filled["raw"]
    return surveys


def attach_raw(rejects: pd.DataFrame, raws: dict) -> pd.DataFrame:
    """Return rejects with ``raw`` (original cells as JSON) and ``说明`` filled in."""
    rejects = rejects.copy()
    raw = pd.Series("", index=rejects.index, dtype=object)
    for file, grp in rejects.groupby("file", sort=False):
        headers, body = raws[file]
        hdr = [str(h).strip() or f"列{i + 1}" for i, h in enumerate(headers)]
        positions = grp["row"].to_numpy() - body.attrs["first_excel_row"]
        vals = body.iloc[positions].to_numpy()
        raw.loc[grp.index] = [json.dumps(dict(zip(hdr, map(str, r))), ensure_ascii=False) for r in vals]
    rejects["raw"] = raw
    rejects["说明"] = rejects["reason"].map(reason_text) if len(rejects) else pd.Series(dtype=object)
    return rejects
