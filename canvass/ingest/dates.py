"""Dates and ISO weeks: every date form of the data contract, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Perf: one alternative per separator instead of a back-reference, so that pandas can run the
# extraction in pyarrow (RE2 has no back-references) rather than Python's re, cell by cell.
_DATE_RE = (
    r"^(?P<y>\d{4})(?:-(?P<m1>\d{1,2})-(?P<d1>\d{1,2})|/(?P<m2>\d{1,2})/(?P<d2>\d{1,2})"
    r"|\.(?P<m3>\d{1,2})\.(?P<d3>\d{1,2})|年(?P<m4>\d{1,2})月(?P<d4>\d{1,2})日)"
    r"(?:\s*T?\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?$"
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
SERIAL_MIN, SERIAL_MAX = 20000, 80000


def _group_number(match, name: str) -> pd.Series:
    """Return one named group of an extract_regex result as floats (NaN where absent)."""
    g = pc.struct_field(match, name)
    g = pc.if_else(pc.equal(g, ""), pa.scalar(None, pa.string()), g)
    return pd.Series(pc.cast(g, pa.float64()).to_numpy(zero_copy_only=False))


def parse_datetimes(values: pd.Series) -> pd.Series:
    """Return naive timestamps for normalised date cells; NaT where unparseable or blank.

    Accepts Y-M-D with ``-``/``/``/``.``, 年月日, either followed by a time, and Excel
    serial numbers 20000–80000 (a fraction is the time of day).
    """
    if len(values) == 0:
        # Fix: a header-only file gives zero rows; mapping through an empty lookup
        # table crashed (cannot cast DatetimeArray to float64) instead of giving NaT-typed output.
        return pd.Series([], index=values.index, dtype="datetime64[ns]")
    # Perf: parse each distinct text once (factorize), then spread back by code; the regex
    # runs in pyarrow (RE2): pandas' str.extract runs Python's re cell by cell even on arrow text.
    codes, uniq = pd.factorize(values.astype("string").fillna(""))
    text = pa.array([u.strip() for u in uniq.tolist()], type=pa.string())
    match = pc.extract_regex(text, _DATE_RE)  # null where the text does not match
    group = {name: _group_number(match, name) for name in
             ("y", "m1", "d1", "m2", "d2", "m3", "d3", "m4", "d4", "H", "M", "S")}
    month = group["m1"].fillna(group["m2"]).fillna(group["m3"]).fillna(group["m4"])
    day = group["d1"].fillna(group["d2"]).fillna(group["d3"]).fillna(group["d4"])
    frame = pd.DataFrame({
        "year": group["y"], "month": month, "day": day,
        "hour": group["H"].fillna(0), "minute": group["M"].fillna(0), "second": group["S"].fillna(0),
    })
    valid = frame[["year", "month", "day"]].notna().all(axis=1)
    valid &= frame["hour"].between(0, 23) & frame["minute"].between(0, 59) & frame["second"].between(0, 59)
    # Fix: years outside datetime64[ns] (1677-09-21 … 2262-04-11), e.g. ``9999-12-31`` or
    # ``0000-01-01``, crashed clean_folder (OutOfBoundsDatetime on assignment): they are bad dates.
    valid &= frame["year"].between(1678, 2261)
    stamps = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if valid.any():
        stamps[valid] = pd.to_datetime(frame[valid], errors="coerce")
    serial_text = pc.match_substring_regex(text, r"^\d{5}(?:\.\d+)?$")
    serial = pd.Series(pc.cast(pc.if_else(serial_text, text, pa.scalar(None, pa.string())), pa.float64())
                       .to_numpy(zero_copy_only=False))
    is_serial = serial.notna() & (np.floor(serial) >= SERIAL_MIN) & (np.floor(serial) <= SERIAL_MAX)
    if is_serial.any():
        seconds = (serial[is_serial] * 86400).round().astype("int64")
        stamps[is_serial] = _EXCEL_EPOCH + pd.to_timedelta(seconds, unit="s")
    return pd.Series(stamps.to_numpy()[codes], index=values.index, dtype="datetime64[ns]")


