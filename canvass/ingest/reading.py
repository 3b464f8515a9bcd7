"""Read one input kind's files into frames of normalised cells, and give every row its community.

Header row and columns come from ``headers``; the community of a row from its own cell,
``files:`` or the file's name (contract 9.1). Nothing is validated here: that is ``cleaners``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from canvass.config import Config
from canvass.errors import InputError
from canvass.ingest import kinds
from canvass.ingest.headers import (
    HEADER_SCAN_ROWS,
    find_header_row,
    ignored_headers,
    map_columns,
)
from canvass.ingest.normalize import normalize_values
from canvass.ingest.readers import list_input_files, read_sheet, unreadable
from canvass.ingest.records import FileRecord


def _sha256(path: Path, rel: str = "") -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:  # e.g. opened by Excel between listing it and hashing it
        raise unreadable(exc, rel or str(path)) from None
    return h.hexdigest()


def _stamp(path: Path, rel: str) -> tuple:
    try:
        st = path.stat()
    except OSError as exc:
        raise unreadable(exc, rel) from None
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


def _changed_while_read(rel: str) -> InputError:
    return InputError("文件在读取过程中被修改（可能还在复制或保存中） (file changed while read)", file=rel,
                      expected="等文件复制或保存完成后重新运行")


class Listed(NamedTuple):
    """One input file as listed before reading: its path, its stamp, its bytes' hash and cache key."""

    path: Path
    rel: str
    stamp: tuple
    digest: str
    key: str


def list_kind(data_dir: Path, kind: str, config: Config, cache) -> list[Listed]:
    """Return one kind's files, each hashed and keyed for ``cache`` (a ``read_cache.ReadCache``)."""
    folder = data_dir / kind
    if not folder.is_dir():
        return []
    listed = []
    for path in list_input_files(folder):
        rel = path.relative_to(data_dir).as_posix()
        stamp = _stamp(path, rel)
        digest = _sha256(path, rel)
        if _stamp(path, rel) != stamp:  # a file whose cleaned kind is reused is never read: check here too
            raise _changed_while_read(rel)
        listed.append(Listed(path, rel, stamp, digest, cache.key(kind, rel, digest, config)))
    return listed


def read_kind(data_dir: Path, kind: str, config: Config, cache=None, listed: list[Listed] | None = None):
    """Return (rows, file records, raw sheets) for every file of one kind, in file order.

    ``cache`` (a ``read_cache.ReadCache``) gives a file's result when its bytes were read
    before with the same settings and code; only the other files are read and parsed.
    ``listed`` is the kind's ``list_kind`` when the caller has it already.
    """
    spec = kinds.KINDS[kind]
    frames, records, raws = [], [], {}
    if cache is not None:
        entries = list_kind(data_dir, kind, config, cache) if listed is None else listed
    else:
        folder = data_dir / kind
        paths = list_input_files(folder) if folder.is_dir() else []
        entries = [Listed(p, p.relative_to(data_dir).as_posix(), (), "", "") for p in paths]
    for path, rel, before, digest, key in entries:
        hit = None
        if cache is None:
            before = _stamp(path, rel)
            cells = _read_cells(path, rel, spec, config)
            digest = _sha256(path, rel)
        else:
            # The hash came first (list_kind): it names the entry. The stamp check below still
            # covers the hashing and the reading (a file changed between listing and reading is refused, #16).
            hit = cache.get(key)
            cells = _read_cells(path, rel, spec, config) if hit is None else None
        if _stamp(path, rel) != before:
            raise _changed_while_read(rel)
        if hit is None:
            frame, cmap, record, headers, body = parse_sheet(cells, rel, spec, config)
            del cells
            if cache is not None:
                cache.put(key, (frame, cmap, record, headers, body))  # before settling changes them in place
        else:
            frame, cmap, record, headers, body = hit
        record.sha256 = digest
        records.append(record)
        frames.append((frame, cmap, record))
        raws[rel] = (headers, body)
    return frames, records, raws


def _read_cells(path: Path, rel: str, spec, config: Config) -> pd.DataFrame:
    """Return one file's cells as text (InputError for a file without the kind's header)."""
    return read_sheet(path, rel, head_check=lambda head: find_header_row(
        head.itertuples(index=False), spec, config.aliases, rel)).cells


def parse_sheet(cells: pd.DataFrame, rel: str, spec, config: Config):
    """Return (rows, column map, file record without its sha256, headers, raw body) of one file's cells.

    Depends only on the cells, ``spec``, ``rel`` and config's aliases, columns and
    ignore_columns: what ``read_cache`` keys an entry by (with the file's bytes).
    """
    record = FileRecord(spec.name, rel, "")
    if cells.shape[0] == 0:
        raise InputError("文件中没有表头 no header", file=rel, expected="带表头的表格")
    h = find_header_row(cells.head(HEADER_SCAN_ROWS).itertuples(index=False), spec, config.aliases, rel)
    headers = [str(v) for v in cells.iloc[h]]
    cmap = map_columns(headers, spec, config.aliases, rel, pins=config.columns,
                       ignore=config.ignore_columns, header_row=h + 1)
    record.header_row = h + 1
    body = cells.iloc[h + 1:]
    body = body.set_axis(pd.RangeIndex(len(body)), axis=0)
    # A blank row has every cell empty; one column at a time, so no stripped copy of the sheet.
    blank = pd.Series(True, index=body.index)
    for col in body.columns:
        blank &= body[col].astype(str).str.strip().eq("").to_numpy()
    record.blank_rows = int(blank.sum())
    record.data_rows = int((~blank).sum())
    keep = body[~blank.to_numpy()]
    frame = pd.DataFrame(index=keep.index)
    for fname, col in cmap.fields.items():
        frame[fname] = _blank_markers(normalize_values(keep[col]), comment=fname == "comment")
    cand_cols = {c for cols in cmap.candidates.values() for c in cols}
    # A candidate that is also a field's provisional column is normalised once, not twice.
    by_col = {col: f for f, col in cmap.fields.items()}
    frame_cols = {c: frame[by_col[c]] if c in by_col else _blank_markers(normalize_values(keep[c]))
                  for c in cand_cols}
    frame["_file"] = rel
    frame["_row"] = (keep.index.to_numpy() + h + 2).astype("int64")
    frame.attrs["split"] = cmap.split_address
    frame.attrs["candidates"] = Candidates(frame_cols)
    body.attrs["first_excel_row"] = h + 2
    return frame, cmap, record, headers, body


class Candidates(dict):
    """A file's candidate columns (header → normalised cells), kept in its rows' ``attrs``.

    pandas deep-copies a frame's ``attrs`` into every column taken from it; these Series are
    never changed in place, so a copy is the same object. Perf: the copies of every candidate
    column on each column access cost 0.37 s of a 3 s clean at 20 communities.
    """

    def __deepcopy__(self, memo):
        return self


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
