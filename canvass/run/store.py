"""Cleaned data on disk: per-community parquet slices, cached by the inputs' hashes.

The batch cleans once and writes one slice per community, so a community notebook
reads only its own rows (cost does not grow with the number of communities). Staff
running a notebook on its own get the same slices from a cache keyed by the inputs'
sha256 sums, the configuration and the package's code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from canvass import __version__
from canvass.config import KINDS, Config, load_config
from canvass.ingest.clean import clean_folder
from canvass.ingest.readers import list_input_files
from canvass.ingest.records import Cleaned, FileRecord
from canvass.vocab import METRIC_FIELDS

TABLES = ("households", "visits", "surveys", "issues", "rejects")
OPTIONAL_TABLES = ("activities", "shops")  # present only when the data folder has them
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


# Installed libraries whose version changes how a report looks (charts, HTML export, the font).
RENDERING_LIBRARIES = ("matplotlib", "nbconvert", "jinja2", "pandas", "noto-cjk-sans-otc", "fonttools")


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
    versions of the libraries that draw charts, export HTML or ship the font: a report
    is reused only when all of them are unchanged.
    """
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256(__version__.encode())
    for p in _package_files():
        h.update(p.relative_to(_PACKAGE_DIR).as_posix().encode())
        h.update(p.read_bytes())
    for lib in RENDERING_LIBRARIES:
        try:
            h.update(f"{lib}=={version(lib)}".encode())
        except PackageNotFoundError:
            h.update(f"{lib} missing".encode())
    return h.hexdigest()[:16]


def input_fingerprint(data_dir: Path, config_file: Path | None = None) -> str:
    """Return a hash of every input file (path and bytes), the configuration and the code."""
    h = hashlib.sha256(code_fingerprint().encode())
    cfg = config_file if config_file is not None else data_dir / "subdistrict.yml"
    if cfg.is_file():
        h.update(cfg.read_bytes())
    for kind in KINDS:
        folder = data_dir / kind
        if not folder.is_dir():
            continue
        for p in list_input_files(folder):
            h.update(p.relative_to(data_dir).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:24]


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


def save_prepared(cleaned: Cleaned, folder: Path) -> Path:
    """Write cleaned tables as one parquet slice per community (plus unassigned rejects)."""
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    meta = {"communities": list(cleaned.communities), "config": _config_json(cleaned.config),
            "files": [dataclasses.asdict(f) for f in cleaned.files], "version": __version__,
            "optional": [o for o in OPTIONAL_TABLES if getattr(cleaned, o) is not None]}
    for i, community in enumerate(cleaned.communities):
        d = tmp / f"c{i:04d}"
        d.mkdir()
        for t in TABLES + tuple(o for o in OPTIONAL_TABLES if getattr(cleaned, o) is not None):
            frame = getattr(cleaned, t)
            _write_parquet(frame[frame["community"] == community], d / f"{t}.parquet")
    rej = cleaned.rejects
    _write_parquet(rej[~rej["community"].isin(cleaned.communities)], tmp / "rejects_unassigned.parquet")
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process won the race with identical content
        shutil.rmtree(tmp, ignore_errors=True)
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


def load_prepared(folder: Path, community: str | None = None, columns: dict | None = None) -> Cleaned:
    """Return the cleaned tables of one community (or of all, with ``community=None``).

    ``columns`` (table → column list) reads only those columns, e.g. ``DIGEST_COLUMNS``.
    """
    columns = columns or {}
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    communities = meta["communities"]
    if community is not None and community not in communities:
        from canvass.errors import ParameterError
        raise ParameterError(f"数据中没有社区 “{community}”", expected="、".join(communities))
    picks = [communities.index(community)] if community is not None else range(len(communities))
    present = tuple(meta.get("optional", ()))
    names = TABLES + present
    tables = {t: [] for t in names}
    for i in picks:
        d = folder / f"c{i:04d}"
        for t in names:
            tables[t].append(_read(d / f"{t}.parquet", columns.get(t)))
    if community is None:
        tables["rejects"].append(_read(folder / "rejects_unassigned.parquet", columns.get("rejects")))
    frames = {t: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for t, v in tables.items()}
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
    if (folder / "meta.json").is_file():
        return folder
    if cleaned is None:
        cleaned = clean_folder(data_dir, load_config(data_dir, config_file))
    return save_prepared(cleaned, folder)


def save_history(history: pd.DataFrame, path: Path) -> None:
    """Write the metrics history (``metrics.metrics_over_weeks``) as parquet, atomically."""
    from canvass.run.atomic import atomic_path

    with atomic_path(path) as tmp:
        history.to_parquet(tmp, index=False)


def load_history(path: str | Path) -> pd.DataFrame:
    """Read a metrics history written by ``save_history``."""
    return pd.read_parquet(path)
