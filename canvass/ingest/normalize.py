"""Text normalisation shared by headers and values: NFKC, trimming, Chinese numerals."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

_HEADER_NUMBER = re.compile(r"^(Q?\d+[、.．:]|\(\d+\))", re.IGNORECASE)
_HEADER_TRAIL = "：:？?* \t"

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
CN_NUMERAL = r"[零〇一二两三四五六七八九十]+"


def nfkc(text: str) -> str:
    """Return ``text`` NFKC-normalised (full-width to half-width) and trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def normalize_header(cell: str) -> str:
    """Return a header cell as matched against aliases (section 2 of the contract)."""
    text = nfkc(str(cell))
    text = _HEADER_NUMBER.sub("", text, count=1).strip()
    prev = None
    while prev != text:
        prev = text
        text = text.rstrip(_HEADER_TRAIL)
    return text.strip()


def normalize_values(values: pd.Series) -> pd.Series:
    """Return string cells NFKC-normalised and trimmed, vectorised (blank stays '')."""
    s = values.astype("string").fillna("")
    # Perf: NFKC + trim once per distinct value, not once per cell (pandas runs str.normalize
    # elementwise in Python: ~9 s of 40 for 1M survey rows). ASCII text is NFKC-stable.
    codes, uniques = pd.factorize(s)
    norm = [u.strip() if u.isascii() else unicodedata.normalize("NFKC", u).strip() for u in uniques.tolist()]
    return pd.Series(pd.array(norm, dtype=s.dtype).take(codes), index=s.index, name=s.name)


def chinese_to_int(text: str) -> int | None:
    """Return the value of a Chinese numeral from 零 to 九十九 (十一, 二十三), else None."""
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        if len(text) != 1:
            return None
        return _CN_DIGITS[text]
    if text.count("十") > 1:
        return None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    t = _CN_DIGITS[tens] if tens else 1
    o = _CN_DIGITS[ones] if ones else 0
    if tens and t == 0:
        return None
    return t * 10 + o


def number_text(text: str) -> str | None:
    """Return a decimal digit string for digits or a Chinese numeral, else None."""
    if text.isdigit():
        return str(int(text))
    value = chinese_to_int(text)
    return None if value is None else str(value)


def map_unique(values: pd.Series, func) -> pd.Series:
    """Apply ``func`` once per distinct value (a mapping over unique values, not per row)."""
    # Perf: factorize + take instead of a dict and Series.map (which converted every cell).
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    results = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques.tolist()):  # bulk conversion: iterating arrow text is slow
        results[i] = func(u)
    return pd.Series(results[codes], index=values.index)
