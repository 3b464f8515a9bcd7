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

from canvass.config import Config
from canvass.errors import InputError
from canvass.ingest import kinds
from canvass.ingest.address import parse_address_column, parse_split_columns
from canvass.ingest.dates import parse_datetimes
from canvass.ingest.headers import (
    HEADER_SCAN_ROWS,
    find_header_row,
    ignored_headers,
    map_columns,
)
from canvass.ingest.normalize import (
    CN_NUMERAL,
    map_unique,
    normalize_values,
    number_text,
)
from canvass.ingest.readers import list_input_files, read_sheet
from canvass.vocab import QUESTION_FIELDS, reason_text

REJECT_COLUMNS = ["file", "row", "community", "field", "reason", "说明", "raw"]
MISSING_ORDER = {k.name: k.missing_order for k in kinds.KINDS.values()}
DATE_FIELD = {k.name: k.date_field for k in kinds.KINDS.values() if k.date_field}
UNASSIGNED_GRID = "未分网格"


@dataclass
class FileRecord:
    """One input file as read: where it is, its hash, how its rows were counted and its columns read."""

    kind: str
    file: str
    sha256: str
    data_rows: int = 0
    blank_rows: int = 0
    header_row: int = 0
    ignored_columns: list = field(default_factory=list)
    columns: dict = field(default_factory=dict)  # field → header as the file shows it
    community: str = ""  # the file's community when rows do not say (9.1)
    community_source: str = ""  # column, files:, file name
    notes: list = field(default_factory=list)  # candidates left out: {field, header, why}
    readings: list = field(default_factory=list)  # metric columns: coding, invalid answers (9.9)
    unassigned_grid: int = 0  # registry rows placed in 未分网格 (9.2)
    duplicate_of: str = ""  # a download whose every row is a duplicate return of this file (9.8)
    rejected_rows: int = 0


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
    activities: pd.DataFrame | None = None  # None: no activities/ folder (its report sections are left out)
    shops: pd.DataFrame | None = None  # None: no shops/ folder

    def community_slice(self, community: str) -> "Cleaned":
        """Return the tables restricted to one community (rejects of other communities dropped)."""
        def pick(df):
            return None if df is None else df[df["community"] == community].reset_index(drop=True)
        return Cleaned(pick(self.households), pick(self.visits), pick(self.surveys), pick(self.issues),
                       pick(self.rejects), self.files, [community], self.config,
                       pick(self.activities), pick(self.shops))


# --- reading -----------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()



def _stamp(path: Path, rel: str) -> tuple:
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"无法读取文件：{exc.strerror or exc}", file=rel) from None
    return st.st_size, st.st_mtime_ns


def _blank_markers(values: pd.Series, comment: bool = False) -> pd.Series:
    """Return values with platform placeholders (``NULL``, ``(跳过)``, ``-`` …) as blank (9.6)."""
    markers = kinds.BLANK_MARKERS + (kinds.COMMENT_BLANKS if comment else ())
    return values.mask(values.isin(markers), "")


def _derive_registry_community(rel: str, config: Config) -> str | None:
    """Return the community named by a registry file's name (9.1 rule 3), else None."""
    stem = Path(rel).stem
    text = re.sub(r"^(?:\s|[_\-()（）\[\]【】]|\d{4}年\d{1,2}月(?:\d{1,2}日)?|\d{4}-\d{1,2}-\d{1,2}|\d{8}"
                  r"|第\d+周)+", "", stem)
    if config.name and text.startswith(config.name):
        text = text[len(config.name):]
    text = re.sub(r"^[\s_\-]+", "", text)
    for mark in ("社区", "村"):
        i = text.find(mark)
        if i > 0:
            return text[:i + len(mark)]
    return None


def file_community(rel: str, kind: str, config: Config, known: list) -> tuple[str, str]:
    """Return (community, how it was found) for a file whose rows may not say (9.1 rules 2–3)."""
    from canvass.ingest.answers import glob_match

    for pattern, community in config.files.items():
        if glob_match(pattern, rel):
            return community, "files:"
    parts = rel.split("/")[1:]
    names = [n for n in (config.communities or known) if any(n in part for part in parts)]
    if names:
        return max(names, key=len), "file name"
    if kind == "households" and not config.communities:
        derived = _derive_registry_community(rel, config)
        if derived:
            return derived, "file name"
    return "", ""


def _no_community_error(rel: str, kind_label: str) -> InputError:
    return InputError(
        f"无法确定这个{kind_label}文件属于哪个社区：表中没有“社区”列，文件名中也没有社区名称",
        file=rel, expected=f"三种办法任选其一：① 表中加一列“社区”；② 在 subdistrict.yml 中写 "
                           f"files: {{\"{rel}\": 某某社区}}；③ 把文件名改为含社区名称，如“某某社区_{Path(rel).name}”")


def read_kind(data_dir: Path, kind: str, config: Config):
    """Return (rows, file records, raw sheets) for every file of one kind, in file order."""
    spec = kinds.KINDS[kind]
    frames, records, raws = [], [], {}
    folder = data_dir / kind
    if not folder.is_dir():
        return frames, records, raws
    for path in list_input_files(folder):
        rel = path.relative_to(data_dir).as_posix()
        before = _stamp(path, rel)
        sheet = read_sheet(path, rel)
        record = FileRecord(kind, rel, _sha256(path))
        if _stamp(path, rel) != before:
            raise InputError("文件在读取过程中被修改（可能还在复制或保存中） (file changed while read)", file=rel,
                             expected="等文件复制或保存完成后重新运行")
        records.append(record)
        cells = sheet.cells
        if cells.shape[0] == 0:
            raise InputError("文件中没有表头 no header", file=rel, expected="带表头的表格")
        h = find_header_row(cells.head(HEADER_SCAN_ROWS).itertuples(index=False), spec, config.aliases, rel)
        headers = [str(v) for v in cells.iloc[h]]
        cmap = map_columns(headers, spec, config.aliases, rel, pins=config.columns,
                           ignore=config.ignore_columns, header_row=h + 1)
        record.header_row = h + 1
        body = cells.iloc[h + 1:]
        body = body.set_axis(pd.RangeIndex(len(body)), axis=0)
        stripped = body.apply(lambda c: c.astype(str).str.strip()) if len(body) else body
        blank = (stripped == "").all(axis=1) if len(body) else pd.Series([], dtype=bool)
        record.blank_rows = int(blank.sum())
        record.data_rows = int((~blank).sum())
        keep = body[~blank.to_numpy()]
        frame = pd.DataFrame(index=keep.index)
        for fname, col in cmap.fields.items():
            frame[fname] = _blank_markers(normalize_values(keep[col]), comment=fname == "comment")
        cand_cols = {c for cols in cmap.candidates.values() for c in cols}
        frame_cols = {c: _blank_markers(normalize_values(keep[c])) for c in cand_cols}
        frame["_file"] = rel
        frame["_row"] = (keep.index.to_numpy() + h + 2).astype("int64")
        frame.attrs["split"] = cmap.split_address
        frame.attrs["candidates"] = frame_cols
        frames.append((frame, cmap, record))
        body.attrs["first_excel_row"] = h + 2
        raws[rel] = (headers, body)
    return frames, records, raws


def _settle_community(frames, kind: str, config: Config, known: list) -> None:
    """Give every row its community: its own cell, else the file's (9.1); settle rule-8 columns."""
    from canvass.ingest.answers import choose_columns

    for frame, cmap, record in frames:
        cands = frame.attrs.get("candidates", {})
        if "community" in cmap.candidates and "community" not in cmap.alias:
            choice, notes = choose_columns(cands, type(cmap)(
                fields={}, split_address=False, ignored=[], candidates={"community": cmap.candidates["community"]},
                alias={}, headers=cmap.headers), record.file, config, set(known))
            col = choice.get("community")
            if col is None:
                frame.drop(columns="community", inplace=True, errors="ignore")
                cmap.fields.pop("community", None)
                record.notes += [{"field": f, "header": str(hd).strip(), "why": w} for f, hd, w in notes]
            else:
                frame["community"] = cands[col]
                cmap.fields["community"] = col
        has_column = "community" in frame
        community, source = file_community(record.file, kind, config, known)
        if not has_column and not community:
            raise _no_community_error(record.file, kinds.KINDS[kind].label)
        record.community, record.community_source = community, ("column" if has_column else source)
        if has_column:
            if community:
                frame["community"] = frame["community"].mask(frame["community"] == "", community)
        else:
            frame["community"] = community
        record.columns = {f: str(cmap.headers[i]).strip() for f, i in cmap.fields.items()}
        record.ignored_columns = ignored_headers(cmap.headers, cmap.fields)


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


def _alias_values(frame: pd.DataFrame, cmap, spec) -> None:
    """Translate values understood only under one header (``是`` under 是否入户) to canonical text."""
    for f in spec.fields:
        extra = f.alias_values.get(cmap.alias.get(f.name, ""))
        if extra and f.name in frame:
            canonical = {code: next(k for k, v in f.values.items() if v == code) for code in set(extra.values())}
            frame[f.name] = frame[f.name].replace({text: canonical[code] for text, code in extra.items()})


def _stack_files(frames, kind: str | None = None):
    """Return all rows of a kind with parsed address keys, per-file address layouts handled."""
    stacked = []
    spec = kinds.KINDS.get(kind) if kind else None
    for i, (frame, cmap, _record) in enumerate(frames):
        f = frame.copy()
        if spec is not None:
            _alias_values(f, cmap, spec)
        comm = _col(f, "community")
        parts, missing, present = _address_parts(f, comm)
        f["_addr_missing"] = missing.to_numpy()
        f["_addr_present"] = present.to_numpy()
        # An unreadable unit cell (split columns, e.g. ``甲单元``) is unparseable too.
        f["_addr_bad"] = (present & (parts["building"].isna() | parts["unit"].isna()
                                     | parts["room"].isna())).to_numpy()
        f["building"] = parts["building"].to_numpy()
        f["unit"] = parts["unit"].to_numpy()
        f["room"] = parts["room"].to_numpy()
        f["_key"] = _keys(comm, parts).to_numpy()
        f["_fileidx"] = i
        f["_fields"] = ",".join(sorted(c for c in cmap.fields))
        f.attrs = {}
        stacked.append(f)
    if not stacked:
        return None
    rows = pd.concat(stacked, ignore_index=True)
    # A field one file maps and another does not is blank in the other file's rows.
    for c in rows.columns:
        if not c.startswith("_") and c not in ("building", "unit", "room") and rows[c].isna().any():
            rows[c] = rows[c].astype(object).where(rows[c].notna(), "")
    return rows


def _mapped(rows: pd.DataFrame) -> pd.Series:
    """Return each row's mapped fields as a comma-joined set (community and address always compared)."""
    def norm(s: str) -> str:
        fields = set(s.split(",")) | {"community", "address"}
        return ",".join(sorted(fields - {"building", "unit", "room"}))
    return map_unique(rows["_fields"], norm).astype(str)


def duplicate_rows(canon: pd.DataFrame, valid: pd.Series, fields: pd.Series, stamp: pd.Series) -> pd.Series:
    """Return rows equal to an earlier valid row on every field mapped in both rows' files (section 4).

    ``canon`` holds the compared values per field (columns named by field); ``stamp`` is the
    row's timestamp: dates compare as days when either row has no time of day, else the
    times must be equal too.
    """
    n = len(canon)
    dup = np.zeros(n, bool)
    if n == 0 or not valid.any():
        return pd.Series(dup, index=canon.index)
    day = stamp.dt.normalize()
    has_time = (stamp - day) != pd.Timedelta(0)
    field_sets = {s: set(s.split(",")) for s in pd.unique(fields)}
    pos = np.arange(n)
    for s_row, f_row in field_sets.items():
        for s_prev, f_prev in field_sets.items():
            shared = sorted((f_row & f_prev) & set(canon.columns))
            mine = (fields == s_row).to_numpy() & valid.to_numpy()
            theirs = (fields == s_prev).to_numpy() & valid.to_numpy()
            if not mine.any() or not theirs.any():
                continue
            key = pd.util.hash_pandas_object(canon[shared].astype(str).assign(_d=day.astype(str)), index=False)
            key = key.to_numpy()
            both = np.isin(key[mine], key[theirs])
            if not both.any():
                continue
            a = pd.DataFrame({"k": key[mine][both], "i": pos[mine][both]})
            b = pd.DataFrame({"k": key[theirs], "j": pos[theirs]})
            m = a.merge(b, on="k")
            m = m[m["j"] < m["i"]]
            ht, st = has_time.to_numpy(), stamp.to_numpy()
            clash = ht[m["i"]] & ht[m["j"]] & (st[m["i"]] != st[m["j"]])
            dup[m.loc[~clash, "i"].to_numpy()] = True
    return pd.Series(dup, index=canon.index)


_DATE_COLUMNS = {"date", "submitted_at", "raised", "resolved", "deadline"}


def _empty(columns) -> pd.DataFrame:
    # Fix: date columns of an empty table are datetime64 (as when rows exist); with object
    # dtype, compute_metrics crashed on a folder without issue files (``.dt`` on object).
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in _DATE_COLUMNS else object)
                         for c in columns})


def _grids_from_config(rows: pd.DataFrame, config: Config, frames) -> pd.Series:
    """Return each registry row's grid: its own cell, else ``grids:`` by building, else 未分网格 (9.2)."""
    grid = _col(rows, "grid").astype(object).copy()
    no_column = rows["_fields"].map(lambda s: "grid" not in s.split(",")).astype(bool)
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


def _common_checks(kind: str, rows: pd.DataFrame, known: set, first: tuple | None = None):
    v = _Verdict(rows.index)
    if first is not None:  # a reason decided before every other check (duplicate return)
        v.reject(*first)
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


def _is_coded_file(frame: pd.DataFrame, cmap) -> bool:
    """Return True when one of a survey file's question columns holds only integers (9.7)."""
    cols = [frame[q] for q in QUESTION_FIELDS if q in frame]
    cols += [frame.attrs.get("candidates", {})[c] for f, cs in cmap.candidates.items() if f in QUESTION_FIELDS
             for c in cs]
    for values in cols:
        nb = values[values != ""]
        if len(nb) and bool(nb.str.fullmatch(r"-?\d+").all()):
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
    key = pd.Series(comm.astype(str), index=rows.index) + "|" + stamp.astype(str)
    cand = ok & key.duplicated(keep=False).to_numpy()
    if not cand.any():
        return pd.Series(dup, index=rows.index), pd.Series(kept_in, index=rows.index)
    idx = np.flatnonzero(cand)
    sub = pd.DataFrame({"k": key.to_numpy()[idx], "i": idx})
    m = sub.merge(sub.rename(columns={"i": "j"}), on="k")
    fi, fj = rows["_fileidx"].to_numpy()[m["i"]], rows["_fileidx"].to_numpy()[m["j"]]
    m = m[fi != fj]
    i, j = m["i"].to_numpy(), m["j"].to_numpy()
    same = (has_time[i] & has_time[j]) | ((sid[i] != "") & (sid[j] != ""))
    fields = rows["_fields"].to_numpy()
    for f in ("sheet_id", "duration", "client"):
        vals = _col(rows, f).to_numpy(dtype=object)
        has = np.array([f in s.split(",") for s in fields])
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


_INT_COUNT = r"^(\d+)(?:\.0+)?\s*(?:人次|人|处|个)?$"
_HOURS = r"^(\d+(?:\.\d+)?)\s*(?:小时|h|H)?$"


def _count(values: pd.Series, pattern: str = _INT_COUNT, blank_zero: bool = True) -> tuple[pd.Series, pd.Series]:
    """Return (number, bad) for a count cell: ``12``, ``12人``, ``12人次``, ``8处`` (``2.5小时`` for hours)."""
    digits = values.str.extract(pattern, expand=False)
    bad = digits.isna() & ((values != "") if blank_zero else True)
    return pd.to_numeric(digits, errors="coerce").fillna(0), bad


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


def check_data_folder(data_dir: Path) -> Path:
    """Return ``data_dir`` if it exists with its four required sub-folders, else raise InputError."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("数据文件夹不存在 data folder not found", file=str(data_dir),
                         expected="含 households/ visits/ surveys/ issues/ 子文件夹的文件夹")
    for kind in kinds.REQUIRED_FOLDERS:
        if not (data_dir / kind).is_dir():
            raise InputError(f"缺少子文件夹 missing sub-folder: {kind}/（{kinds.KINDS[kind].label}）", file=str(data_dir),
                             expected="households/ visits/ surveys/ issues/ 四个子文件夹")
    return data_dir


def _registry_communities(frames, config: Config) -> list:
    """Return the communities named by the registry's community columns, in file order."""
    names: list = list(config.communities)
    for frame, _cmap, _rec in frames:
        if "community" in frame:
            names += [c for c in pd.unique(frame["community"]) if c]
    return list(dict.fromkeys(names))


def clean_folder(data_dir: Path, config: Config) -> Cleaned:
    """Read and clean every input of a data folder; raise InputError for unreadable files."""
    data_dir = check_data_folder(data_dir)
    read = {kind: read_kind(data_dir, kind, config) for kind in kinds.KINDS}
    files = [r for kind in kinds.KINDS for r in read[kind][1]]
    raws = {k: v for kind in kinds.KINDS for k, v in read[kind][2].items()}

    _settle_community(read["households"][0], "households", config, _registry_communities(read["households"][0], config))
    households, rej_h = clean_households(read["households"][0], config)
    order = list(dict.fromkeys(list(config.communities) + [c for c in pd.unique(households["community"])]))
    reg_comms = set()
    for frame, _cmap, _rec in read["households"][0]:
        reg_comms.update(c for c in pd.unique(_col(frame, "community")) if c)
    for c in sorted(reg_comms - set(order)):
        order.append(c)
    known = set(order)
    for kind in ("visits", "surveys", "issues"):
        _settle_community(read[kind][0], kind, config, order)
    registry = set(households["key"])
    visits, rej_v = clean_visits(read["visits"][0], known, registry)
    surveys, rej_s = clean_surveys(read["surveys"][0], known, registry, config)
    issues, rej_i = clean_issues(read["issues"][0], known, config)
    optional, rej_o = {}, []
    for kind, cleaner in (("activities", clean_activities), ("shops", clean_shops)):
        if (data_dir / kind).is_dir():
            _settle_community(read[kind][0], kind, config, order)
            optional[kind], rej = cleaner(read[kind][0], known)
            rej_o.append(rej)
    parts = [r for r in (rej_h, rej_v, rej_s, rej_i, *rej_o) if len(r)]
    rejects = pd.concat(parts, ignore_index=True) if parts else _empty(REJECT_COLUMNS + ["kind", "date", "household"])
    rejects = attach_raw(rejects, raws)
    surveys = attach_survey_raw(surveys, raws)
    per_file = rejects["file"].value_counts() if len(rejects) else {}
    for record in files:
        record.rejected_rows = int(per_file.get(record.file, 0)) if len(rejects) else 0
    return Cleaned(households, visits, surveys, issues, rejects, files, order, config,
                   optional.get("activities"), optional.get("shops"))


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
