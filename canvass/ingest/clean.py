"""Clean a data folder without losing a row: read every kind, clean it, collect the rejects.

Every data row of every file ends in exactly one place: a cleaned table or the rejects
(with file, Excel row number and reason). Validation is vectorised: values are
normalised column-wise, and parsers run once per distinct value.
"""

from __future__ import annotations

import json
from pathlib import Path

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
from canvass.ingest.reading import _settle_community, read_kind
from canvass.ingest.records import Cleaned
from canvass.ingest.validate import REJECT_COLUMNS, _col, _empty
from canvass.vocab import reason_text

# --- reading -----------------------------------------------------------------------


















# --- validation helpers --------------------------------------------------------------





















# --- the four kinds ------------------------------------------------------------------

















































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
    # Each kind's read frames are dropped once it is cleaned: memory holds one kind's copy at a time.
    read["households"] = None
    visits, rej_v = clean_visits(read.pop("visits")[0], known, registry)
    surveys, rej_s = clean_surveys(read.pop("surveys")[0], known, registry, config)
    issues, rej_i = clean_issues(read.pop("issues")[0], known, config)
    optional, rej_o = {}, []
    for kind, cleaner in (("activities", clean_activities), ("shops", clean_shops)):
        if (data_dir / kind).is_dir():
            _settle_community(read[kind][0], kind, config, order)
            optional[kind], rej = cleaner(read.pop(kind)[0], known)
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

    Only a return with a later one from the same household can ever be superseded (in some
    report week), so only those rows keep their original cells (for rejects.csv); a
    household's latest return never needs them. The raw sheets can then be freed.
    """
    surveys = surveys.copy()
    surveys["raw"] = ""
    if len(surveys):
        named = ~surveys["anonymous"].astype(bool)
        latest = (surveys[named].sort_values(["submitted_at", "order"], kind="stable")
                  .drop_duplicates("key", keep="last").index)
        repeated = named & ~surveys.index.isin(latest)
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
    kinds_of = rejects["kind"] if "kind" in rejects else [None] * len(rejects)
    rejects["说明"] = ([reason_text(r, k) for r, k in zip(rejects["reason"], kinds_of)]
                     if len(rejects) else pd.Series(dtype=object))
    return rejects
