"""Clean a data folder without losing a row: read every kind, clean it, collect the rejects.

Every data row of every file ends in exactly one place: a cleaned table or the rejects
(with file, Excel row number and reason). Validation is vectorised: values are
normalised column-wise, and parsers run once per distinct value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from canvass.config import Config
from canvass.errors import InputError
from canvass.ingest import kinds
from canvass.ingest.cleaners import (
    clean_activities,
    clean_households,
    clean_issues,
    clean_shops,
    clean_surveys,
    clean_visits,
)
from canvass.ingest.read_cache import ReadCache
from canvass.ingest.reading import _settle_community, list_kind, read_kind
from canvass.ingest.records import Cleaned
from canvass.ingest.validate import REJECT_COLUMNS, _col, _empty
from canvass.memory import release_memory
from canvass.vocab import reason_text


# --- the data folder ---------------------------------------------------------------


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


def clean_folder(data_dir: Path, config: Config, read_cache: ReadCache | None = None) -> Cleaned:
    """Read and clean every input of a data folder; raise InputError for unreadable files.

    With ``read_cache`` only the files not read before are read and parsed (``read_cache.py``);
    everything across files runs as without it, so the result is the same.
    """
    data_dir = check_data_folder(data_dir)
    try:
        return _clean_folder(data_dir, config, read_cache)
    except BaseException:
        if read_cache is not None:
            read_cache.discard()  # nothing of a failed run stays behind
        raise


def _clean_folder(data_dir: Path, config: Config, read_cache: ReadCache | None) -> Cleaned:
    memo = _KindMemo(data_dir, config, read_cache)
    # Every kind's files are listed and hashed first; a kind cleaned before from the same files,
    # settings and registry is taken whole from the cache (``_KindMemo``), the others are read.
    reused = {kind: memo.get(kind) for kind in kinds.KINDS}
    read = {kind: read_kind(data_dir, kind, config, read_cache, memo.listed.get(kind))
            for kind in kinds.KINDS if reused[kind] is None}
    if read_cache is not None:
        read_cache.prune()
    raws = {kind: r[2] for kind, r in read.items()}  # kind → file → (headers, body)

    if reused["households"] is None:
        frames, records = read.pop("households")[:2]  # its raw sheets: in raws, until _with_raw
        _settle_community(frames, "households", config, _registry_communities(frames, config))
        households, rej_h = clean_households(frames, config)
        order = list(dict.fromkeys(list(config.communities) + [c for c in pd.unique(households["community"])]))
        reg_comms = set()
        for frame, _cmap, _rec in frames:
            reg_comms.update(c for c in pd.unique(_col(frame, "community")) if c)
        for c in sorted(reg_comms - set(order)):
            order.append(c)
        # Each kind's read frames and raw sheets are dropped once it is cleaned and its rejects
        # have their raw cells: memory holds one kind's copy at a time.
        del frames
        rej_h = _with_raw(rej_h, raws, "households")
        reused["households"] = memo.put("households", (households, rej_h, order), records)
    (households, rej_h, order), _records = reused["households"]
    known = set(order)
    registry = set(households["key"])
    for kind in ("visits", "surveys", "issues"):  # every required file has its community before any is cleaned
        if reused[kind] is None:
            _settle_community(read[kind][0], kind, config, order)
    tables, rejected = {}, [rej_h]
    for kind in ("visits", "surveys", "issues", "activities", "shops"):
        if reused[kind] is None:
            if not (data_dir / kind).is_dir():
                continue  # an optional kind without its folder: its report sections are left out
            frames, records = read.pop(kind)[:2]
            if kind in ("activities", "shops"):
                _settle_community(frames, kind, config, order)
            table, rej = _CLEANERS[kind](frames, known, registry, config)
            del frames
            if kind == "surveys":
                attach_survey_raw(table, raws["surveys"])
            rej = _with_raw(rej, raws, kind)
            reused[kind] = memo.put(kind, (table, rej), records)
            if kind == "surveys":
                release_memory()
        (tables[kind], rej), _records = reused[kind]
        rejected.append(rej)
    files = [r for kind in kinds.KINDS if reused[kind] is not None for r in reused[kind][1]]
    parts = [r for r in rejected if len(r)]
    rejects = (pd.concat(parts, ignore_index=True) if parts
               else attach_raw(_empty(REJECT_COLUMNS + ["kind", "date", "household"]), {}))
    per_file = rejects["file"].value_counts() if len(rejects) else {}
    for record in files:
        record.rejected_rows = int(per_file.get(record.file, 0)) if len(rejects) else 0
    return Cleaned(households, tables["visits"], tables["surveys"], tables["issues"], rejects, files, order, config,
                   tables.get("activities"), tables.get("shops"), read_cache)


# What each kind's cleaning reads besides its rows: the communities (``known``), the registry's
# household keys, the settings. ``_KindMemo`` keys a kind by exactly these (through the files).
_CLEANERS = {
    "visits": lambda frames, known, registry, config: clean_visits(frames, known, registry),
    "surveys": lambda frames, known, registry, config: clean_surveys(frames, known, registry, config),
    "issues": lambda frames, known, registry, config: clean_issues(frames, known, config),
    "activities": lambda frames, known, registry, config: clean_activities(frames, known),
    "shops": lambda frames, known, registry, config: clean_shops(frames, known),
}


class _KindMemo:
    """The cleaned kinds of earlier runs (``ReadCache.kinds``), each keyed by what its cleaning
    reads: every setting, the registry's files (they give the communities in display order and
    the household keys) and the kind's own files, each by its read-cache key (bytes, path,
    reader settings; the code and libraries are in every key). A hit gives the kind's table,
    its rejects with their raw cells and its file records as cleaning it again would, and the
    kind's files are not read at all: a re-run after one visits file changed reads and cleans
    the visits only.

    Without a read cache (``--check`` with ``--no-cache``, tests) nothing is kept.
    """

    def __init__(self, data_dir: Path, config: Config, cache: ReadCache | None):
        self.data_dir, self.cache, self.config = data_dir, cache, config
        self.listed = ({kind: list_kind(data_dir, kind, config, cache) for kind in kinds.KINDS}
                       if cache is not None else {})

    def _key(self, kind: str) -> str:
        upstream = [] if kind == "households" else [f.key for f in self.listed["households"]]
        return self.cache.kind_key(kind, self.config, upstream, [f.key for f in self.listed[kind]])

    def get(self, kind: str):
        """Return (payload, file records) of ``kind`` kept by an earlier run, or None."""
        if self.cache is None or self.cache.kinds is None or not (self.data_dir / kind).is_dir():
            return None
        hit = self.cache.kinds.get(self._key(kind))
        if hit is not None:
            self.cache.touch(f.key for f in self.listed[kind])  # its files' entries: kept for a later miss
        return hit

    def put(self, kind: str, payload: tuple, records: list):
        """Keep ``payload`` and the kind's file records (pickled now, before anything downstream
        changes them); return them as ``get`` does."""
        if self.cache is not None and self.cache.kinds is not None:
            self.cache.kinds.put(self._key(kind), (payload, records))
        return payload, records


def _with_raw(rejects: pd.DataFrame, raws: dict, kind: str) -> pd.DataFrame:
    """Return one kind's rejects with their raw cells, and drop that kind's raw sheets."""
    return attach_raw(rejects, raws.pop(kind))


def attach_survey_raw(surveys: pd.DataFrame, raws: dict) -> pd.DataFrame:
    """Fill ``raw`` (in place; also returned) for returns that a later one could supersede.

    Only a return with a later one from the same household can ever be superseded (in some
    report week), so only those rows keep their original cells (for rejects.csv); a
    household's latest return never needs them. The raw sheets can then be freed.

    Perf: at 1M returns most rows are such repeats; their JSON is built column-wise in Arrow
    (``raw_json``), one file at a time. A Python dict and ``json.dumps`` per row took the
    process from 1.4 to 3.1 GiB and ~10 s.
    """
    raw = None
    if len(surveys):
        named = ~surveys["anonymous"].astype(bool)
        latest = (surveys[named].sort_values(["submitted_at", "order"], kind="stable")
                  .drop_duplicates("key", keep="last").index)
        repeated = (named & ~surveys.index.isin(latest)).to_numpy()
        if repeated.any():
            raw = _raw_column(surveys["file"].to_numpy(), surveys["row"].to_numpy(), repeated, raws, surveys.index)
    surveys["raw"] = raw if raw is not None else pd.Series("", index=surveys.index, dtype=object)
    return surveys


def _raw_column(files: np.ndarray, rows: np.ndarray, wanted: np.ndarray, raws: dict, index) -> pd.Series:
    """Return an object column: the raw cells' JSON where ``wanted``, else "".

    Built in Arrow one run of rows from the same file at a time (the surveys: one per file);
    rows not wanted cost no text.
    """
    import pyarrow as pa

    n = len(files)
    starts = np.r_[0, np.flatnonzero(files[1:] != files[:-1]) + 1] if n else np.zeros(0, np.int64)
    chunks = []
    for a, b in zip(starts, np.r_[starts[1:], n]):
        w = wanted[a:b]
        if w.any():
            headers, body = raws[files[a]]
            chunks.append(raw_json(headers, body, rows[a:b] - body.attrs["first_excel_row"], w))
        else:
            chunks.append(pa.array(np.full(b - a, "", dtype=object), type=pa.large_string()))
    # Python strings in the end (as many bytes as Arrow's UTF-8 for this text): selecting rows of
    # an object column copies pointers, where an Arrow column copies its text each time a week's
    # returns or rejects are taken (+0.8 GiB per week_view at 1M rows).
    cells = [chunks.pop(0).to_numpy(zero_copy_only=False) for _ in range(len(chunks))]
    return pd.Series(np.concatenate(cells) if cells else np.empty(0, object), index=index, dtype=object)


def raw_json(headers: list, body: pd.DataFrame, positions: np.ndarray, wanted: np.ndarray | None = None):
    """Return (an Arrow string array) the JSON object of each given body row's cells by header.

    The same text as ``json.dumps(dict(zip(headers, cells)), ensure_ascii=False)``: a blank
    header is ``列<n>``; a repeated header keeps its first place and its last column's value.
    Rows not ``wanted`` are "" (built as nulls: no text is made for them).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    hdr = [str(h).strip() or f"列{i + 1}" for i, h in enumerate(headers)]
    last = {h: i for i, h in enumerate(hdr)}  # dict order: first place; value: last column
    parts: list = []
    for n, (h, col) in enumerate(last.items()):
        parts.append(pa.scalar(("{" if n == 0 else ", ") + json.dumps(h, ensure_ascii=False) + ': "', text))
        values = _json_escaped(body.iloc[positions, col])
        if n == 0 and wanted is not None:
            values = pc.if_else(pa.array(wanted), values, pa.scalar(None, text))
        parts.append(values)
        parts.append(pa.scalar('"', text))
    if not parts:
        return pa.array(np.where(wanted if wanted is not None else True, "{}", ""), type=text)
    parts.append(pa.scalar("}", text))
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", text))  # a null part makes the row null
    return joined if wanted is None else pc.fill_null(joined, pa.scalar("", text))


_CONTROL = {chr(c): json.dumps(chr(c))[1:-1] for c in range(32)}


def _json_escaped(values: pd.Series):
    """Return the values as Arrow strings escaped for inside a JSON string (as json.dumps does)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.map(str) if values.dtype == object else values, type=pa.large_string())
    arr = pc.replace_substring(arr, "\\", "\\\\")
    arr = pc.replace_substring(arr, '"', '\\"')
    if pc.any(pc.match_substring_regex(arr, "[\\x00-\\x1f]")).as_py():
        for char, escaped in _CONTROL.items():
            arr = pc.replace_substring(arr, char, escaped)
    return arr


def attach_raw(rejects: pd.DataFrame, raws: dict) -> pd.DataFrame:
    """Return rejects with ``raw`` (original cells as JSON) and ``说明`` filled in."""
    rejects = rejects.copy()
    rejects["raw"] = _raw_column(rejects["file"].to_numpy(), rejects["row"].to_numpy(),
                                 np.ones(len(rejects), bool), raws, rejects.index)
    kinds_of = rejects["kind"] if "kind" in rejects else [None] * len(rejects)
    rejects["说明"] = ([reason_text(r, k) for r, k in zip(rejects["reason"], kinds_of)]
                     if len(rejects) else pd.Series(dtype=object))
    return rejects
