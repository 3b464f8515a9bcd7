"""Cleaned data on disk: per-community parquet slices, cached by the inputs' hashes.

The batch cleans once and writes one slice per community, so a community notebook
reads only its own rows (cost does not grow with the number of communities). Staff
running a notebook on its own get the same slices from a cache keyed by the inputs'
sha256 sums, the configuration and the package's code.

An entry is written to a temporary folder, with ``checksums.json`` (the sha256 of every
file) last, and renamed into place: it appears whole or not at all, and an entry another
process published is never removed while it may be read (the loser of a race drops its own
copy). Loading verifies the checksums of what it reads; a damaged entry is moved aside and
rebuilt, with a ``CacheRebuiltWarning``. The metrics history carries its sha256 beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from canvass import __version__
from canvass.config import KINDS, Config, load_config
from canvass.errors import CacheError, CacheRebuiltWarning
from canvass.ingest.clean import clean_folder
from canvass.ingest.read_cache import ReadCache
from canvass.ingest.readers import list_input_files, unreadable
from canvass.ingest.records import Cleaned, FileRecord
from canvass.vocab import METRIC_FIELDS

TABLES = ("households", "visits", "surveys", "issues", "rejects")
OPTIONAL_TABLES = ("activities", "shops")  # present only when the data folder has them
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


# Installed libraries whose version changes how a report looks (charts, images, HTML export, the font).
RENDERING_LIBRARIES = ("matplotlib", "pillow", "nbconvert", "jinja2", "pandas", "noto-cjk-sans-otc", "fonttools")


def code_fingerprint() -> str:
    """Return a hash of the package's source, so a code change invalidates caches."""
    h = hashlib.sha256(__version__.encode())
    for p in sorted(_PACKAGE_DIR.rglob("*.py")):
        h.update(p.relative_to(_PACKAGE_DIR).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _package_files() -> list[Path]:
    """Every file of the package but bytecode and the notebooks (each task hashes its own)."""
    files = []
    for p in _PACKAGE_DIR.rglob("*"):
        rel = p.relative_to(_PACKAGE_DIR).parts
        if p.is_file() and "__pycache__" not in rel and rel[0] != "notebooks" and p.suffix != ".pyc":
            files.append(p)
    return sorted(files)


def output_fingerprint() -> str:
    """Return a hash of what shapes a rendered report besides its notebook and data.

    That is the package's code and data files (templates, CSS), its version, and the
    versions of the libraries that draw charts and images, export HTML or ship the font: a report
    is reused only when all of them are unchanged.
    """
    import importlib.metadata
    from importlib.metadata import PackageNotFoundError

    version = importlib.metadata.version
    files = _package_files()
    # A run asks for it once per community key (and the digest's, the tables'): the answer is
    # kept while the package's files (path, size, mtime), its version and the way versions are
    # read stay the same. Reading ~100 files and 6 installed versions took 0.03 s a call.
    memo_key = (__version__, str(_PACKAGE_DIR), version,
                tuple((str(p), st.st_size, st.st_mtime_ns) for p in files for st in (p.stat(),)))
    if _FINGERPRINT_MEMO.get("key") == memo_key:
        return _FINGERPRINT_MEMO["value"]
    h = hashlib.sha256(__version__.encode())
    for p in files:
        h.update(p.relative_to(_PACKAGE_DIR).as_posix().encode())
        h.update(p.read_bytes())
    for lib in RENDERING_LIBRARIES:
        try:
            h.update(f"{lib}=={version(lib)}".encode())
        except PackageNotFoundError:
            h.update(f"{lib} missing".encode())
    _FINGERPRINT_MEMO.update(key=memo_key, value=h.hexdigest()[:16])
    return _FINGERPRINT_MEMO["value"]


_FINGERPRINT_MEMO: dict = {}


def input_fingerprint(data_dir: Path, config_file: Path | None = None) -> str:
    """Return a hash of every input file (path and bytes), the configuration and the code."""
    h = hashlib.sha256(code_fingerprint().encode())
    cfg = config_file if config_file is not None else data_dir / "subdistrict.yml"
    if cfg.is_file():
        h.update(_input_bytes(cfg, cfg.name))
    for kind in KINDS:
        folder = data_dir / kind
        if not folder.is_dir():
            continue
        for p in list_input_files(folder):
            rel = p.relative_to(data_dir).as_posix()
            h.update(rel.encode())
            h.update(_input_bytes(p, rel))
    return h.hexdigest()[:24]


def _input_bytes(path: Path, rel: str) -> bytes:
    """Return an input file's bytes; a file Excel holds open (Windows) or cannot be read is an InputError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise unreadable(exc, rel) from None


def _config_json(config: Config) -> dict:
    d = dataclasses.asdict(config)
    for k in ("campaign_start", "assessment_date"):
        if d.get(k) is not None:
            d[k] = d[k].isoformat()
    # JSON keys are text: codes are re-read as integers in _config_from_json.
    return d


def _config_from_json(d: dict) -> Config:
    d = dict(d)
    for k in ("campaign_start", "assessment_date"):
        if d.get(k):
            d[k] = dt.date.fromisoformat(d[k])
    d["communities"] = tuple(d["communities"])
    d["ignore_columns"] = tuple(d.get("ignore_columns", ()))
    d["grids"] = {c: {g: tuple(b) for g, b in grids.items()} for c, grids in d.get("grids", {}).items()}

    def ints(m: dict) -> dict:
        return {k: ({int(c): v for c, v in val.items()} if k in METRIC_FIELDS else ints(val))
                for k, val in m.items()}
    d["codes"] = ints(d.get("codes", {}))
    d["issue_categories"] = tuple(d["issue_categories"])
    d["aliases"] = {k: tuple(v) for k, v in d["aliases"].items()}
    return Config(**d)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].astype("string")
    df.to_parquet(path, index=False)


CHECKSUMS = "checksums.json"  # written last: an entry without a valid one is damaged


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_checksums(paths: dict) -> dict:
    """Return {role: sha256} of the files in ``paths`` (role → path) that exist."""
    return {role: _sha256(Path(p)) for role, p in paths.items() if Path(p).is_file()}


def files_intact(recorded, paths: dict) -> bool:
    """Return True when every file in ``paths`` exists with the sha256 ``recorded`` for it."""
    if not isinstance(recorded, dict):
        return False
    try:
        return all(recorded.get(role) == _sha256(Path(p)) for role, p in paths.items())
    except OSError:
        return False


def _temp_name(folder: Path, tag: str) -> str:
    # host and pid let a later run remove what a killed process left (see _remove_abandoned)
    return f".{folder.name}.{tag}-{uuid.uuid4().hex[:8]}.{_host()}.{os.getpid()}.tmp"


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def _remove_abandoned(root: Path) -> None:
    """Remove temp folders of processes of this host that no longer run."""
    from canvass.run.atomic import _pid_alive

    host = _host()
    for p in root.glob(".*.tmp"):
        parts = p.name.rsplit(".", 3)
        if len(parts) == 4 and parts[1] == host and parts[2].isdigit() and not _pid_alive(int(parts[2])):
            shutil.rmtree(p, ignore_errors=True)


def prune_unused(root: Path, marker: str, keep_days: float, now: float | None = None, keep=()) -> int:
    """Remove the entries of ``root`` whose ``marker`` file was not touched for ``keep_days``
    (every use touches it), except those named in ``keep``; return how many. Never fails.

    An entry is renamed aside before it is removed and put back if it was used in between,
    so a process that just opened it keeps it; one held open on Windows is left for next time.
    """
    cutoff = (time.time() if now is None else now) - keep_days * 86400
    try:
        entries = [e for e in root.iterdir() if not e.name.startswith(".") and e.name not in keep and e.is_dir()]
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        try:
            if (entry / marker).stat().st_mtime >= cutoff:
                continue
        except OSError:  # being published or discarded by another process: not ours to judge
            continue
        trash = entry.with_name(_temp_name(entry, "old"))
        try:
            os.rename(entry, trash)
        except OSError:  # gone already, or in use (Windows): leave it
            continue
        try:
            used_since = (trash / marker).stat().st_mtime >= cutoff
        except OSError:
            used_since = False
        if used_since:  # another process used it between the look and the move: put it back
            with contextlib.suppress(OSError):
                os.rename(trash, entry)
                continue
        shutil.rmtree(trash, ignore_errors=True)
        removed += 1
    return removed


def touch_entry(folder: Path) -> None:
    """Mark a prepared entry as used now (``prune_prepared`` keeps what was used lately)."""
    with contextlib.suppress(OSError):
        os.utime(folder / CHECKSUMS)


def prune_prepared(root: Path, keep=(), now: float | None = None) -> int:
    """Remove prepared entries (one per state of the inputs) not used for ``KEEP_DAYS``."""
    from canvass.ingest.read_cache import KEEP_DAYS

    return prune_unused(root, CHECKSUMS, KEEP_DAYS, now, keep)


def discard_damaged(folder: Path, problem: str) -> None:
    """Move a damaged entry out of the way (readers of it fail anyway), warn, and remove it."""
    warnings.warn(CacheRebuiltWarning(f"缓存已损坏，已重建：{folder}（{problem}）"), stacklevel=3)
    trash = folder.with_name(_temp_name(folder, "damaged"))
    try:
        os.rename(folder, trash)
    except FileNotFoundError:  # another process moved it already
        return
    except OSError:  # Windows: a file of it is open; take what can be taken
        shutil.rmtree(folder, ignore_errors=True)
        return
    if entry_problem(trash) is None:
        # Another process replaced the damaged entry with a good one since we looked: put it back.
        with contextlib.suppress(OSError):
            os.rename(trash, folder)
            return
    shutil.rmtree(trash, ignore_errors=True)


def entry_problem(folder: Path, files: list | None = None) -> str | None:
    """Return what is wrong with the cache entry ``folder`` (None: intact), checking ``files`` or all."""
    try:
        sums = json.loads((folder / CHECKSUMS).read_text(encoding="utf-8"))
        if not isinstance(sums, dict) or not sums or not all(isinstance(v, str) for v in sums.values()):
            return f"{CHECKSUMS} 内容无效"
    except FileNotFoundError:
        return f"缺少 {CHECKSUMS}"
    except (OSError, ValueError) as exc:
        return f"{CHECKSUMS} 无法读取：{type(exc).__name__}"
    for rel in files if files is not None else sums:
        if rel not in sums:
            return f"{rel} 不在 {CHECKSUMS} 中"
        try:
            if _sha256(folder / rel) != sums[rel]:
                return f"{rel} 的校验和不符"
        except OSError as exc:
            return f"{rel} 无法读取：{type(exc).__name__}"
    return None


def _damaged(folder: Path, problem: str) -> CacheError:
    err = CacheError(f"缓存已损坏（{problem}），请重新运行", file=str(folder))
    err.problem = problem
    return err


def _publish_entry(tmp: Path, folder: Path) -> None:
    """Rename the finished ``tmp`` to ``folder``; if another process got there first, keep its entry."""
    for _ in range(3):
        try:
            os.rename(tmp, folder)
            return
        except OSError as exc:  # the name is taken, or the folder cannot be written
            failure = exc
            if not folder.exists():
                continue  # moved away meanwhile, or not a race at all (then raised below)
            problem = entry_problem(folder)
            if problem is None:
                return  # the winner's entry: identical content (same key)
            discard_damaged(folder, problem)
    raise failure


def _community_parts(frame: pd.DataFrame, communities: list):
    """Yield, per community in ``communities``, its rows of ``frame`` as the Arrow table its
    slice file holds (text columns as strings, as ``_write_parquet`` writes them).

    ``order`` (file order, the tie-break between equal dates) is renumbered 0, 1, … within the
    community, in the same relative order: it is only ever compared within a household or
    shop key, and keys carry their community, so the community's own numbering is
    equivalent. It keeps a slice byte-identical when another community's file gains rows,
    so the other communities' reports are reused.

    Perf: the table goes to Arrow once and each community's rows are taken from it (one pass
    over the community column), instead of a mask, a copy and a conversion per community
    and table: writing the slices of 20 communities went from 0.82 s to about 0.3 s.
    """
    import pyarrow as pa

    df = frame.copy(deep=False)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].astype("string")
    table = pa.Table.from_pandas(df, preserve_index=False)
    codes = pd.Index(communities).get_indexer(pd.Index(frame["community"].to_numpy(dtype=object)))
    by_code = np.argsort(codes, kind="stable")  # rows of each community, in table order
    starts = np.searchsorted(codes[by_code], np.arange(len(communities) + 1))
    has_order = "order" in table.column_names
    for k in range(len(communities)):
        rows = by_code[starts[k]:starts[k + 1]]
        part = table.take(pa.array(rows, type=pa.int64()))
        if has_order and len(rows):
            # rank in file order (ties keep their place)
            order = frame["order"].to_numpy()[rows]
            ranks = np.empty(len(rows), np.int64)
            ranks[np.argsort(order, kind="stable")] = np.arange(len(rows))
            part = part.set_column(part.column_names.index("order"), "order", pa.array(ranks, type=pa.int64()))
        yield part


def build_entry(folder: Path, fill, sweep: bool = True) -> Path:
    """Return a temporary folder beside ``folder`` holding the finished entry, not yet published:
    ``fill(tmp)`` writes its files, then ``checksums.json`` is added. ``publish_entry`` renames it.

    ``sweep`` first removes what killed processes left in the parent; a caller building many
    entries does it once.
    """
    from canvass.run.atomic import writing

    folder = Path(folder)
    with writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        if sweep:
            _remove_abandoned(folder.parent)
        tmp = folder.with_name(_temp_name(folder, "new"))
        tmp.mkdir()
        try:
            fill(tmp)
            sums = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            (tmp / CHECKSUMS).write_text(json.dumps(sums, indent=1), encoding="utf-8")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return tmp


def publish_entry(tmp: Path, folder: Path) -> Path:
    """Rename the entry built in ``tmp`` to ``folder`` (the winner's stays if another process was first)."""
    from canvass.run.atomic import writing

    with writing(folder):
        try:
            _publish_entry(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was renamed
    return folder


def write_entry(folder: Path, fill) -> Path:
    """Build the cache entry ``folder`` with ``fill(tmp)`` and publish it (see the module's docstring).

    Shared by the prepared slices and the read cache (``ingest/read_cache.py``).
    """
    return publish_entry(build_entry(folder, fill), Path(folder))


def save_prepared(cleaned: Cleaned, folder: Path) -> Path:
    """Write cleaned tables as one parquet slice per community (plus unassigned rejects).

    The entry is built in a temporary folder and renamed into place (``write_entry``).
    """
    def fill(tmp: Path) -> None:
        import pyarrow.parquet as pq

        meta = {"communities": list(cleaned.communities), "config": _config_json(cleaned.config),
                "files": [dataclasses.asdict(f) for f in cleaned.files], "version": __version__,
                "optional": [o for o in OPTIONAL_TABLES if getattr(cleaned, o) is not None],
                # the distinct visit and survey dates: the default week without reading the slices
                "dates": sorted(str(d.date()) for d in cleaned.data_dates().dt.normalize().unique())}
        folders = []
        for i, _community in enumerate(cleaned.communities):
            folders.append(tmp / f"c{i:04d}")
            folders[-1].mkdir()
        for t in TABLES + tuple(o for o in OPTIONAL_TABLES if getattr(cleaned, o) is not None):
            for d, part in zip(folders, _community_parts(getattr(cleaned, t), cleaned.communities)):
                pq.write_table(part, d / f"{t}.parquet")
        rej = cleaned.rejects
        _write_parquet(rej[~rej["community"].isin(cleaned.communities)], tmp / "rejects_unassigned.parquet")
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    write_entry(folder, fill)
    if cleaned.read_cache is not None:
        # The files read for these slices: their entries appear with the slices, so a run that
        # fails before this point (a bad file, a bad week) leaves no cache behind.
        cleaned.read_cache.publish()
    return folder


# What the digest needs: no names, phones, raw cells or free text (less memory at 100+ communities).
DIGEST_COLUMNS = {
    "households": ["community", "grid", "grid_label", "building", "key", "occupied"],
    "visits": ["date", "community", "key", "outcome", "materials", "order"],
    "surveys": ["submitted_at", "date", "community", "key", "anonymous", "awareness", "support",
                "participation", "satisfaction", "garbage_sorting", "file", "row", "order"],
    "issues": ["raised", "community", "category", "handling", "status", "resolved"],
    "rejects": ["file", "row", "community", "reason", "kind", "date"],
}


# What computing the metrics history needs on top: section 10's flags read durations, clients and
# comments, section 11's visits by role read the role.
METRICS_COLUMNS = {**DIGEST_COLUMNS, "surveys": DIGEST_COLUMNS["surveys"] + ["duration", "client", "comment"],
                   "visits": DIGEST_COLUMNS["visits"] + ["role"]}


def _read(path: Path, columns: list | None = None) -> pd.DataFrame:
    if columns is not None:
        import pyarrow.parquet as pq
        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    df = pd.read_parquet(path, columns=columns)
    for col in df.columns:
        if str(df[col].dtype) in ("string", "str"):
            df[col] = df[col].astype(object).where(df[col].notna(), "")
    return df


def _read_concat(folder: Path, rels: list, columns: list | None = None) -> pd.DataFrame:
    """Return one table's files (e.g. every community's visits) as one frame: what ``_read``
    gives for each, concatenated (text blanks are "", whatever the file's column type).

    Perf: the files are joined as Arrow tables and converted to pandas once: the digest reads
    141 files, and converting each on its own (and its text columns one by one) took 1.0 of
    the 1.7 s it spent loading.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rels:
        return pd.DataFrame()
    parts = []
    for rel in rels:
        try:
            file = pq.ParquetFile(folder / rel)
            names = file.schema_arrow.names
            parts.append(file.read(columns=[c for c in columns if c in names] if columns is not None else None))
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise _damaged(folder, f"{rel} 无法读取：{type(exc).__name__}") from exc
    try:
        table = pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # schemas that Arrow will not join: pandas does
        return pd.concat([_read(folder / rel, columns) for rel in rels], ignore_index=True)
    df = table.to_pandas()
    for col, typ in zip(table.schema.names, table.schema.types):
        if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ):
            df[col] = df[col].astype(object).where(df[col].notna(), "")
    return df


def load_prepared(folder: Path, community: str | None = None, columns: dict | None = None,
                  checked: bool = False, tables: tuple | None = None) -> Cleaned:
    """Return the cleaned tables of one community (or of all, with ``community=None``).

    ``columns`` (table → column list) reads only those columns, e.g. ``DIGEST_COLUMNS``.
    ``checked``: the caller has verified every checksum of the entry already (``load_cached``).
    ``tables``: read (and check) only these tables; the others are empty frames. The follow-up
    workbook reads households and visits: 2 files of 7 (0.2 s → 0.07 s a community).
    """
    columns = columns or {}
    folder = Path(folder)
    problem = None if checked else entry_problem(folder, ["meta.json"])
    if problem is not None:
        raise _damaged(folder, problem)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    communities = meta["communities"]
    if community is not None and community not in communities:
        from canvass.errors import ParameterError
        raise ParameterError(f"数据中没有社区 “{community}”", expected="、".join(communities))
    picks = [communities.index(community)] if community is not None else range(len(communities))
    present = tuple(meta.get("optional", ()))
    names = TABLES + present
    wanted = names if tables is None else tuple(t for t in names if t in tables)
    files = [(t, f"c{i:04d}/{t}.parquet") for i in picks for t in wanted]
    if community is None and "rejects" in wanted:
        files.append(("rejects", "rejects_unassigned.parquet"))
    problem = None if checked else entry_problem(folder, [rel for _, rel in files])
    if problem is not None:
        raise _damaged(folder, problem)
    frames = {t: _read_concat(folder, [rel for tt, rel in files if tt == t], columns.get(t)) for t in names}
    for t, cols in (("visits", ["date"]), ("surveys", ["submitted_at", "date"]),
                    ("issues", ["raised", "resolved"]), ("rejects", ["date"]), ("activities", ["date"]),
                    ("shops", ["date", "deadline"])):
        if t not in frames:
            continue
        for c in cols:
            if c in frames[t]:
                frames[t][c] = pd.to_datetime(frames[t][c].replace("", pd.NA))
    files = [FileRecord(**f) for f in meta["files"]]
    return Cleaned(frames["households"], frames["visits"], frames["surveys"], frames["issues"],
                   frames["rejects"], files, [community] if community else communities,
                   _config_from_json(meta["config"]), frames.get("activities"), frames.get("shops"))


def prepare(data_dir: Path, config_file: Path | None = None, cache_root: Path | None = None,
            cleaned: Cleaned | None = None) -> Path:
    """Return a folder of prepared slices for ``data_dir``, cleaning only on a cache miss."""
    from canvass import config as _config
    cache_root = cache_root or (_config.CACHE_DIR / "prepared")
    folder = cache_root / input_fingerprint(data_dir, config_file)
    if folder.exists():
        problem = entry_problem(folder)
        if problem is None:
            touch_entry(folder)
            return folder
        discard_damaged(folder, problem)
    if cleaned is None:
        cleaned = clean_folder(data_dir, load_config(data_dir, config_file), ReadCache(cache_root.parent / "read"))
    saved = save_prepared(cleaned, folder)
    prune_prepared(cache_root, keep=(folder.name,))
    return saved


_TABLES_READ_LATER = ("households", "visits", "surveys", "issues", "rejects", "activities", "shops")


def _read_later(name: str) -> property:
    def get(self):
        if name not in self.__dict__:
            self._read()
        return self.__dict__[name]

    def set_(self, value):
        self.__dict__[name] = value

    return property(get, set_)


class CachedTables(Cleaned):
    """A cache entry's cleaned tables, read from its parquet slices on first use.

    Its communities, file records, configuration and dates come from ``meta.json``: a re-run
    that reuses every output (the same inputs) never reads the slices. The entry's checksums
    are checked when it is opened, so reading it later cannot find it damaged (an entry is
    never changed once published).
    """

    households = _read_later("households")
    visits = _read_later("visits")
    surveys = _read_later("surveys")
    issues = _read_later("issues")
    rejects = _read_later("rejects")
    activities = _read_later("activities")
    shops = _read_later("shops")

    def __init__(self, folder: Path, meta: dict):  # not the dataclass's: the tables come later
        self._folder = folder
        self._dates = meta.get("dates")
        self.files = [FileRecord(**f) for f in meta["files"]]
        self.communities = meta["communities"]
        self.config = _config_from_json(meta["config"])
        self.read_cache = None

    def _read(self) -> None:
        full = load_prepared(self._folder, checked=True)  # load_cached checked every file
        for name in _TABLES_READ_LATER:
            self.__dict__.setdefault(name, getattr(full, name))

    def data_dates(self) -> pd.Series:
        if self._dates is None or any(n in self.__dict__ for n in ("visits", "surveys")):
            return super().data_dates()
        return pd.Series(pd.to_datetime(self._dates), dtype="datetime64[ns]")


def load_cached(folder: Path) -> Cleaned | None:
    """Return every community's cleaned tables from the entry ``folder`` (read on first use),
    or None when there is none or it was damaged (then it is discarded with a warning, for the
    caller to rebuild)."""
    if not folder.exists():
        return None
    problem = entry_problem(folder)  # every file's checksum, now: reading later cannot fail
    if problem is None:
        try:
            tables = CachedTables(folder, json.loads((folder / "meta.json").read_text(encoding="utf-8")))
            touch_entry(folder)
            return tables
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"meta.json 无法读取：{type(exc).__name__}"
    discard_damaged(folder, problem)
    return None


def _history_sum(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_history(history: pd.DataFrame, path: Path, key: str = "") -> None:
    """Write the metrics history (``metrics.metrics_over_weeks``) as parquet, atomically, and its sha256.

    ``key`` (what the history was computed from) is recorded beside the checksum, so that a
    re-run from the same inputs reads it back (``reuse_history``) instead of computing it.
    """
    from canvass.run.atomic import atomic_path, write_text

    path = Path(path)
    with atomic_path(path) as tmp:
        history.to_parquet(tmp, index=False)
    # Written second: a crash in between leaves a mismatch, which reads as damaged.
    write_text(_history_sum(path), f"{_sha256(path)}  {path.name}" + (f"  {key}" if key else "") + "\n")


def reuse_history(path: Path, key: str) -> pd.DataFrame | None:
    """Return the history saved at ``path`` with this ``key`` when it is intact, else None."""
    try:
        recorded = _history_sum(Path(path)).read_text(encoding="utf-8").split()
        if len(recorded) != 3 or recorded[2] != key or _sha256(Path(path)) != recorded[0]:
            return None
        return pd.read_parquet(path)
    except (OSError, ValueError):
        return None


def load_history(path: str | Path) -> pd.DataFrame:
    """Read a metrics history written by ``save_history``; CacheError when it is damaged."""
    path = Path(path)
    try:
        recorded = _history_sum(path).read_text(encoding="utf-8").split()
        if not recorded or _sha256(path) != recorded[0]:
            raise CacheError("指标历史文件已损坏（校验和不符）", file=str(path))
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise CacheError(f"指标历史文件已损坏或无法读取（{type(exc).__name__}）", file=str(path)) from exc
