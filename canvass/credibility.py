"""Questionnaire credibility (contract section 10): flags on returns, credible rates, back-checks.

A flagged return is kept: it counts in every metric of section 5; the credible rates
leave flagged returns out. Flags are judged on the valid, standing returns as of W
(rejected and superseded rows are neither flagged nor counted in a group):

- ``too_fast``: answered in under ``min_seconds``;
- ``burst``: one of ``burst_count`` or more returns of one community from one client
  within ``burst_minutes`` (every window of consecutive returns that fits is flagged);
- ``copied_text``: a comment of 10 or more letters (after removing spaces, punctuation and
  symbols) identical to the comments of at least two other returns of the community.

Everything is vectorised: a sort and shifted comparisons, no loop over rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from canvass.ingest.normalize import map_unique

FLAGS = ("too_fast", "burst", "copied_text")
FLAG_TEXT = {"too_fast": "用时过短", "burst": "集中提交", "copied_text": "意见雷同"}
FLAG_HELP = {
    "too_fast": "答题用时少于 {min_seconds} 秒的问卷。",
    "burst": "同一社区、同一 IP 在 {burst_minutes} 分钟内提交 {burst_count} 份及以上的问卷。",
    "copied_text": "意见建议去掉空格和标点后不少于 10 个字、且与本社区至少另外 2 份问卷完全相同。",
}
CREDIBLE_GAP = 0.02  # reports call out a credible rate more than 2 points below the reported one
COPIED_MIN_CHARS = 10
COPIED_MIN_OTHERS = 2
BACKCHECK_HEADER = ["网格", "楼号", "单元", "室", "户主", "电话", "提交时间", "标记", "核实结果"]
NOTHING_TO_CHECK = "本周无需回访"


def comment_fingerprint(text: str) -> str:
    """Return a comment as compared for copies: NFKC, no whitespace, no punctuation or symbols."""
    t = unicodedata.normalize("NFKC", str(text))
    return "".join(ch for ch in t if not ch.isspace() and unicodedata.category(ch)[0] not in "PS")


def flag_returns(returns: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Return boolean columns too_fast, burst, copied_text for ``returns`` (standing as of W)."""
    n = len(returns)
    out = pd.DataFrame({f: np.zeros(n, bool) for f in FLAGS}, index=returns.index)
    if n == 0:
        return out
    duration = pd.to_numeric(returns.get("duration", pd.Series(np.nan, index=returns.index)), errors="coerce")
    out["too_fast"] = (duration < float(settings["min_seconds"])).fillna(False).to_numpy()

    client = returns.get("client", pd.Series("", index=returns.index)).astype(str).fillna("")
    has_client = (client != "").to_numpy()
    k, window = int(settings["burst_count"]), pd.Timedelta(minutes=float(settings["burst_minutes"]))
    if has_client.sum() >= k:
        sub = pd.DataFrame({"c": returns["community"].to_numpy()[has_client], "ip": client.to_numpy()[has_client],
                            "t": returns["submitted_at"].to_numpy()[has_client], "pos": np.flatnonzero(has_client)})
        sub = sub.sort_values(["c", "ip", "t", "pos"], kind="stable").reset_index(drop=True)
        group = pd.factorize(sub["c"].astype(str) + "\x00" + sub["ip"])[0]
        t = sub["t"].to_numpy()
        m = len(sub)
        starts = np.zeros(m, bool)
        if m >= k:
            last = np.arange(m - k + 1) + k - 1
            starts[: m - k + 1] = (group[last] == group[: m - k + 1]) & ((t[last] - t[: m - k + 1]) <= window.to_timedelta64())
        cover = np.zeros(m + 1, np.int64)
        idx = np.flatnonzero(starts)
        np.add.at(cover, idx, 1)
        np.add.at(cover, idx + k, -1)
        member = np.cumsum(cover)[:m] > 0
        burst = np.zeros(n, bool)
        burst[sub.loc[member, "pos"].to_numpy()] = True
        out["burst"] = burst

    comment = returns.get("comment", pd.Series("", index=returns.index)).astype(str)
    finger = map_unique(comment, comment_fingerprint).astype(str)
    long_enough = finger.str.len() >= COPIED_MIN_CHARS
    key = returns["community"].astype(str) + "\x00" + finger
    sizes = key.where(long_enough).map(key[long_enough].value_counts())
    out["copied_text"] = (long_enough & (sizes >= COPIED_MIN_OTHERS + 1)).to_numpy()
    return out


def flags_text(flags: pd.DataFrame, chinese: bool = False) -> pd.Series:
    """Return each return's flags joined (``too_fast;burst``, or ``用时过短、集中提交``)."""
    sep = "、" if chinese else ";"
    names = [FLAG_TEXT[f] if chinese else f for f in FLAGS]
    cols = [flags[f].to_numpy(dtype=bool) for f in FLAGS]
    text = [sep.join(n for n, on in zip(names, row) if on) for row in zip(*cols)]
    return pd.Series(text, index=flags.index, dtype=object)


def checkable_flags(files) -> dict:
    """Return community → the flags its survey files make checkable (a missing column is not a 0)."""
    out: dict = {}
    for f in files:
        if f.kind != "surveys" or f.duplicate_of:
            continue
        have = out.setdefault(f.community or "", set())
        if "duration" in f.columns:
            have.add("too_fast")
        if "client" in f.columns:
            have.add("burst")
        if "comment" in f.columns:
            have.add("copied_text")
    return out


def backcheck_seed(community: str, week: str) -> int:
    """Return the sample seed: the first 16 hex digits of sha256("<community>|<week>")."""
    return int(hashlib.sha256(f"{community}|{week}".encode("utf-8")).hexdigest()[:16], 16)


def backcheck_rows(week_returns: pd.DataFrame, flags: pd.DataFrame, community: str, week: str) -> pd.DataFrame:
    """Return the back-check list: flagged returns of W with an address, then a deterministic sample."""
    r = week_returns[week_returns["community"] == community]
    f = flags.loc[r.index]
    with_address = r["key"].astype(str) != ""
    flagged_mask = f.any(axis=1) & with_address
    flagged = r[flagged_mask].assign(flag_text=flags_text(f[flagged_mask], chinese=True))
    flagged = flagged.sort_values(["submitted_at", "file", "row"], kind="stable")
    others = r[~f.any(axis=1) & with_address].sort_values(["file", "row"], kind="stable")
    size = max(5, math.ceil(0.05 * len(others)))
    if len(others) <= size:
        sample = others
    else:
        picks = random.Random(backcheck_seed(community, week)).sample(range(len(others)), size)
        sample = others.iloc[sorted(picks)]
    sample = sample.assign(flag_text="")
    return pd.concat([flagged, sample])


def write_backcheck(rows: pd.DataFrame, households: pd.DataFrame, week: str, path: Path) -> int:
    """Write one community's back-check workbook (names and phones masked); return its row count."""
    from openpyxl import Workbook

    from canvass.privacy import mask_name, mask_phone
    from canvass.report.tables import excel_value, int_or_text
    from canvass.run.atomic import atomic_path
    from canvass.weeks import week_bounds

    # Only the households of these rows (a handful): the whole registry's index was built again
    # for every community (60,000 keys, ~25 ms each time). Filtering keeps the order, so the
    # first row of a repeated key is still the one shown.
    h = households[households["key"].isin(rows["key"])].drop_duplicates("key").set_index("key")
    wb = Workbook()
    ws = wb.active
    ws.title = "回访核实"
    ws.append(BACKCHECK_HEADER)
    if rows.empty:
        ws.append([NOTHING_TO_CHECK] + [""] * (len(BACKCHECK_HEADER) - 1))
    for r in rows.itertuples(index=False):  # one row per return to verify
        hh = h.loc[r.key] if r.key in h.index else None
        ws.append([excel_value(v) for v in (
            *((hh["grid_label"], int_or_text(hh["building"]), int_or_text(hh["unit"]), int_or_text(hh["room"])) if hh is not None
              else ("", "", "", "")),
            mask_name(hh["name"]) if hh is not None and hh["name"] else "",
            mask_phone(str(hh["phone"])) if hh is not None and hh["phone"] else "",
            pd.Timestamp(r.submitted_at).strftime("%Y-%m-%d %H:%M:%S"), r.flag_text, "")])
    ws.freeze_panes = "A2"  # the header stays in view, as in the other staff lists
    ws.auto_filter.ref = ws.dimensions
    stamp = dt.datetime.combine(week_bounds(week)[1], dt.time())
    wb.properties.created = wb.properties.modified = stamp
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return len(rows)

