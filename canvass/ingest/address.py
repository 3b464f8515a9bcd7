"""Household addresses → household key parts (building, unit, room).

Every rendering of one household (``3号楼2单元501室``, ``3-2-501``, ``３－２－５０１``,
``三号楼二单元501室``, ``3#2-501`` …) parses to the same key. Parsing runs once per
distinct address text, never once per row.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from canvass.ingest.normalize import CN_NUMERAL, map_unique, number_text

_N = rf"(?:\d+|{CN_NUMERAL})"
_BMARK = r"(?:号楼|栋|幢|座|号|楼|#)"
_PATTERNS = [
    # 3号楼2单元501室 · 3栋2单元501 · 三号楼二单元501室 · 3号2单元501
    re.compile(rf"^(?P<b>{_N}){_BMARK}(?P<u>{_N})单元(?P<r>\d+)(?:室|号)?$"),
    # 3-2-501 · 3#2-501
    re.compile(r"^(?P<b>\d+)[-#](?P<u>\d+)-(?P<r>\d+)$"),
    # two parts, no unit: 3-501 · 3号楼501室
    re.compile(r"^(?P<b>\d+)-(?P<r>\d+)$"),
    re.compile(rf"^(?P<b>{_N})(?:号楼|栋|幢|座|楼|#)(?P<r>\d+)(?:室|号)?$"),
    re.compile(rf"^(?P<b>{_N})号(?P<r>\d+)室$"),
]
_BUILDING_CELL = re.compile(rf"^(?P<v>{_N}){_BMARK}?$")
_UNIT_CELL = re.compile(rf"^(?P<v>{_N})(?:单元)?$")
_ROOM_CELL = re.compile(r"^(?P<v>\d+)(?:室|号)?$")
_SPACES = re.compile(r"\s+")

AddressKey = tuple[str, str, str]


def _room(text: str) -> str:
    return str(int(text)) if text.isdigit() else text


def parse_address(text: str) -> AddressKey | None:
    """Return (building, unit, room) for one NFKC-normalised address string, else None.

    ``unit`` is '' for two-part addresses. The caller strips a leading community name.
    """
    s = _SPACES.sub("", text)
    for pattern in _PATTERNS:
        m = pattern.match(s)
        if m:
            b = number_text(m.group("b"))
            u = m.groupdict().get("u")
            u = number_text(u) if u else ""
            if b is None or u is None:
                return None
            return b, u, _room(m.group("r"))
    return None


def _parse_cell(pattern: re.Pattern, text: str, room: bool = False) -> str | None:
    m = pattern.match(_SPACES.sub("", text))
    if not m:
        return None
    v = m.group("v")
    return _room(v) if room else number_text(v)


def parse_building(text: str) -> str | None:
    """Return the building number of a split building cell (``3``, ``3号楼``, ``三栋``)."""
    return _parse_cell(_BUILDING_CELL, text)


def parse_unit(text: str) -> str | None:
    """Return the unit number of a split unit cell (``2``, ``2单元``, ``二单元``)."""
    return _parse_cell(_UNIT_CELL, text)


def parse_room(text: str) -> str | None:
    """Return the room of a split room cell (``501``, ``501室``, ``0501`` → ``501``)."""
    return _parse_cell(_ROOM_CELL, text, room=True)


def household_key(community: str, building: str, unit: str, room: str) -> str:
    """Return the household key string used to join tables."""
    return f"{community}|{building}|{unit}|{room}"


def strip_own_community(addresses: pd.Series, communities: pd.Series) -> pd.Series:
    """Return addresses with a leading name of the row's own community removed."""
    out = addresses.copy()
    for name in pd.unique(communities[communities != ""]):
        mask = (communities == name) & addresses.str.startswith(name)
        if mask.any():
            out[mask] = addresses[mask].str.slice(len(name)).str.strip()
    return out


def parse_address_column(addresses: pd.Series, communities: pd.Series) -> pd.DataFrame:
    """Return building/unit/room columns (NA where unparseable) for an address column."""
    stripped = strip_own_community(addresses, communities)
    parsed = map_unique(stripped, parse_address)
    ok = parsed.notna()
    parts = pd.DataFrame(index=addresses.index, columns=["building", "unit", "room"], dtype="object")
    if ok.any():
        arr = np.array(parsed[ok].tolist(), dtype=object)
        parts.loc[ok, "building"] = arr[:, 0]
        parts.loc[ok, "unit"] = arr[:, 1]
        parts.loc[ok, "room"] = arr[:, 2]
    return parts


def parse_split_columns(building: pd.Series, unit: pd.Series | None, room: pd.Series) -> pd.DataFrame:
    """Return building/unit/room parsed from split columns (NA where unparseable)."""
    parts = pd.DataFrame(index=building.index)
    parts["building"] = map_unique(building, parse_building)
    if unit is None:
        parts["unit"] = ""
    else:
        u = map_unique(unit, parse_unit)
        parts["unit"] = u.where(unit != "", "")
    parts["room"] = map_unique(room, parse_room)
    return parts.astype("object")
