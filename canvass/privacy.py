"""Personal data: masking free text for forwarded reports, and names/phones for staff lists."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from canvass.ingest.normalize import CN_NUMERAL, number_text

# Separators people put in a mobile number: spaces, dashes (also full-width and long), dots,
# underscores and slashes (138 1234 5678, 138-1234-5678, 138.1234.5678, 138/1234/5678).
_SEP = r"[\s\-－—–._/．／]+"
_PHONE_GROUPED = re.compile(rf"(?<!\d)([1１][3-9３-９]\d){_SEP}(\d{{4}}){_SEP}(\d{{4}})(?!\d)")
_PHONE_RUN = re.compile(r"(?<!\d)(\d{3})\d{4,}(\d{4})(?!\d)|(?<!\d)\d{7,10}(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_N = rf"(?:\d+|{CN_NUMERAL})"
_BLD = r"(?:号楼|栋|幢|座|号|楼|#)"  # after a building number
_UNIT = r"(?:单元|门)"
_DASH = r"[-－—–]"
# A room number without 室: 3-4 digits (or digit-wise Chinese numerals, 五零一) not followed by
# a counting word (3号楼20人, 3栋有12户 and 5号楼100米 stay).
_ROOM = r"(?:\d{3,4}|[零〇一二三四五六七八九]{3,4})(?![\d零〇一二三四五六七八九十])(?!\s*(?:人|户|个|元|米|年|件|次|天|名|位|辆|平|栋|幢|号楼|楼))"
_ADDR_FULL = re.compile(rf"(?P<b>{_N})\s*{_BLD}\s*{_DASH}?\s*{_N}\s*{_UNIT}\s*{_DASH}?\s*{_N}\s*(?:室|号|房)?")
_ADDR_MARK_DASH = re.compile(rf"(?P<b>{_N})\s*(?:号楼|栋|幢|座|楼)\s*{_DASH}\s*\d{{1,2}}\s*{_DASH}\s*\d{{2,4}}(?!\d)")
_ADDR_DASH = re.compile(rf"(?<![\d.:/+])(?P<b>\d{{1,3}})\s*(?:{_DASH}|#)\s*\d{{1,2}}\s*{_DASH}\s*\d{{2,4}}(?![\d.:/*])")
# 3/2/501: a slash form, with a room that does not look like a year (9/12/2023 is a date).
_ADDR_SLASH = re.compile(r"(?<![\d.:/+])(?P<b>\d{1,3})\s*/\s*\d{1,2}\s*/\s*(?!(?:19|20)\d\d(?!\d))\d{3,4}(?![\d.:/])")
_ADDR_TWO = re.compile(rf"(?P<b>{_N})\s*(?:号楼|栋|幢|座|楼)\s*(?:\d{{2,4}}\s*(?:室|号|房)|{_ROOM})")
_ADDR_UNIT_ONLY = re.compile(rf"(?P<b>{_N})\s*(?:号楼|栋|幢|座|楼|#)\s*{_N}\s*{_UNIT}")
_ADDR_LETTER = re.compile(r"(?<![A-Za-z])(?P<b>[A-Za-z])\s*座\s*\d{3,4}\s*(?:室|号|房)?")
# Two-part building-room (3-501): rooms have 3-4 digits, which keeps dates (9-5) and years out.
_ADDR_DASH2 = re.compile(rf"(?<![\d.:/\-+])(?P<b>\d{{1,3}})\s*{_DASH}\s*\d{{3,4}}(?![\d.:/\-*])")
_ADDR_UNIT_ROOM = re.compile(rf"{_N}\s*单元\s*{_DASH}?\s*{_N}\s*(?:室|号|房)?")
_ADDR_ROOM = re.compile(r"(?<!\d)\d{3,4}\s*(?:室|房)")


def mask_phone(text: str) -> str:
    """Return ``13812345678`` as ``138****5678``; shorter digit runs become ``****``."""
    def repl(m: re.Match) -> str:
        if m.group(1):
            return f"{m.group(1)}****{m.group(2)}"
        return "****"
    text = _PHONE_GROUPED.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _PHONE_RUN.sub(repl, text)


def mask_ip(text: str) -> str:
    """Return text with IPv4 addresses (问卷星's 来自IP, pasted into a comment) as ``*.*.*.*``."""
    return _IPV4.sub("*.*.*.*", text)


def shareable_path(path, base=None) -> str:
    """Return a local path as a forwarded file may show it: relative to ``base`` (else the working
    folder) when under it, else only its last part. An absolute path names the user's home folder
    (``C:\\Users\\张三\\…``), and manifest.json is forwarded with the reports."""
    if path is None or str(path) == "":
        return ""
    p = Path(path).resolve()
    for root in ([Path(base)] if base is not None else []) + [Path.cwd()]:
        try:
            return p.relative_to(root.resolve()).as_posix() or "."
        except ValueError:
            continue
    return p.name


def mask_name(name: str) -> str:
    """Return a name with all but its first character masked: ``王**``, ``王*``."""
    name = str(name).strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""


def _building(m: re.Match) -> str:
    b = number_text(m.group("b").strip())
    return f"{b}号楼" if b else "某号楼"


def mask_addresses(text: str) -> str:
    """Return text with addresses below building level masked to the building (``3号楼``).

    Covered: ``3号楼2单元501室`` (also ``2门``, Chinese numerals, dashes between), ``3-2-501``
    (``#``, long dashes, ``3/2/501``), ``3号楼-2-501``, ``3号楼501`` / ``3栋501房``, ``3栋2单元``
    (a unit is below the building), ``B座1202``, ``3-501``, and what is left of a room
    (``2单元501``, ``501室``, ``1202房``).
    """
    text = _ADDR_FULL.sub(_building, text)
    text = _ADDR_MARK_DASH.sub(_building, text)
    text = _ADDR_DASH.sub(_building, text)
    text = _ADDR_SLASH.sub(_building, text)
    text = _ADDR_TWO.sub(_building, text)
    text = _ADDR_UNIT_ONLY.sub(_building, text)
    text = _ADDR_LETTER.sub(lambda m: f"{m.group('b').upper()}座", text)
    text = _ADDR_DASH2.sub(_building, text)
    text = _ADDR_UNIT_ROOM.sub("某单元某室", text)
    return _ADDR_ROOM.sub("某室", text)


class FreeTextMasker:
    """Masks residents' free text: phones, IP addresses, registry names (≥ 2 characters), addresses."""

    def __init__(self, names: Iterable[str] = ()):
        # Longest first, so 王小明 is replaced whole before 王小 could match.
        # A column becomes a list first: iterating a pandas text column yields its values one
        # by one through Arrow (19 ms for a community's 3,000 names; a list is well under 1 ms).
        names = names.tolist() if isinstance(names, (pd.Series, pd.Index)) else names
        self._names = sorted({n.strip() for n in names if isinstance(n, str) and len(n.strip()) >= 2},
                             key=len, reverse=True)

    def _name_pattern(self, text: str) -> re.Pattern | None:
        # Only the names that occur in this text go into the pattern: a registry has thousands.
        present = [n for n in self._names if n in text]
        return re.compile("|".join(map(re.escape, present))) if present else None

    def mask(self, text: str) -> str:
        """Return ``text`` with personal data masked (not yet HTML-escaped)."""
        text = "" if text is None or (isinstance(text, float) and text != text) else str(text)
        pattern = self._name_pattern(text)
        if pattern is not None:
            text = pattern.sub("某某", text)
        return mask_addresses(mask_phone(mask_ip(text)))

    def mask_html(self, text: str) -> str:
        """Return ``text`` masked and HTML-escaped, safe to place in a report."""
        return html.escape(self.mask(text), quote=True)

    def mask_series(self, values: pd.Series) -> pd.Series:
        """Return masked text for a column, once per distinct value."""
        uniq = pd.unique(values.fillna(""))
        return values.fillna("").map({u: self.mask(u) for u in uniq})
