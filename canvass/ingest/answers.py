"""Survey answers as platforms write them (contract sections 9.5–9.7).

An answer cell is read as: NFKC and trim (done by the reader), ``〖…〗``/``【…】`` removed,
a score (``8``, ``8分``, ``4星``) recognised before anything else, else a leading option
label removed (``A.知道``, ``(C)一般``); a multi-choice cell (``┋``, ``|``) is invalid.
A column of integers is coded (问卷星 按序号, 腾讯问卷 答题编码) and decoded by ``codes:``;
scores are decoded by ``scales:``. Which keyword column serves a field is decided by the
share of its answers that are recognised.

Answer codes: 1 positive, 0 negative, -1 unanswered, -2 invalid, -3 not decoded (a coded
or scored column without ``codes:``/``scales:``: left out of every count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from canvass.errors import InputError
from canvass.ingest import kinds
from canvass.ingest.normalize import map_unique
from canvass.vocab import QUESTION_FIELDS, field_text

POSITIVE, NEGATIVE, UNANSWERED, INVALID, UNDECODED = 1, 0, -1, -2, -3
_BRACKETS = re.compile(r"〖[^〗]*〗|【[^】]*】")
_SCORE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:分|星)?$")
_INTEGER = re.compile(r"^-?\d+$")
_LABEL = re.compile(r"^\(?(?:[A-Za-z]|\d+)(?:[.、)]|\s)\s*")
_MULTI = ("┋", "|")
SHARE_NEEDED = 0.5


def glob_regex(pattern: str) -> re.Pattern:
    """Return a regex for a ``files:``-style glob: ``*``/``?`` stay inside a folder, ``**`` crosses."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "(?:/)?"
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


def glob_match(pattern: str, path: str) -> bool:
    return bool(glob_regex(pattern).match(path))


def per_file(setting: dict, field_name: str, file: str):
    """Return a ``codes:``/``scales:`` entry for a field in a file: first matching glob, else the plain form."""
    for key, value in setting.items():
        if key not in QUESTION_FIELDS and isinstance(value, dict) and glob_match(key, file) and field_name in value:
            return value[field_name]
    return setting.get(field_name)


def answer_lists(field_name: str, extra: dict) -> tuple[set, set]:
    pos, neg = kinds.ANSWERS[field_name]
    more = extra.get(field_name, {})
    return set(pos) | set(more.get("positive", ())), set(neg) | set(more.get("negative", ()))


def _text_code(value: str, pos: set, neg: set, scale: dict | None) -> int:
    if value in kinds.UNANSWERED:
        return UNANSWERED
    text = _BRACKETS.sub("", value).strip()
    if not text:
        return UNANSWERED
    if scale is not None and text in ("-2", "-3"):  # 问卷星's empty and skipped, also among scores (9.7)
        return UNANSWERED
    m = _SCORE.match(text)
    if m:
        return _score_code(float(m.group(1)), scale)
    if any(sep in text for sep in _MULTI):
        return INVALID
    text = _LABEL.sub("", text, count=1).strip()
    if text in pos:
        return POSITIVE
    if text in neg:
        return NEGATIVE
    return INVALID


def _score_code(score: float, scale: dict | None) -> int:
    if scale is None:
        return UNDECODED
    if score in (-2, -3):
        return UNANSWERED
    if score < 0 or score > scale["max"]:
        return INVALID
    return POSITIVE if score >= scale["positive_from"] else NEGATIVE


def _code_code(value: str, codes: dict | None) -> int:
    n = int(value)
    if n in (-2, -3):
        return UNANSWERED
    if codes is None:
        return UNDECODED
    meaning = codes.get(n)
    return {"positive": POSITIVE, "negative": NEGATIVE}.get(meaning, INVALID)


@dataclass
class ColumnReading:
    """How one metric column of one file was read: its coding and what its answers gave."""

    field: str
    header: str
    coding: str  # text, coded, scored or empty
    decoded: bool = True
    non_blank: int = 0
    recognised: int = 0
    invalid: int = 0
    invalid_examples: list = field(default_factory=list)
    values_seen: list = field(default_factory=list)
    share: float | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def read_column(values: pd.Series, field_name: str, header: str, file: str, config) -> tuple[pd.Series, ColumnReading]:
    """Return (answer codes, how the column was read) for one metric column of one file.

    Perf: everything is worked out once per distinct answer (a question has tens, a column a
    million cells) and counted with the answers' frequencies; a column costs a few pandas
    calls, not twenty (it is read twice per candidate column of every survey file).
    """
    cell_codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct_all = uniques.tolist()  # in order of first appearance, as pd.unique gives them
    counts = np.bincount(cell_codes, minlength=len(distinct_all))
    blank_u = np.array([v == "" for v in distinct_all], dtype=bool)
    codes = per_file(config.codes, field_name, file)
    scale = per_file(config.scales, field_name, file)
    distinct = [v for v in distinct_all if v != ""]
    integers = len(distinct) > 0 and all(_INTEGER.match(v) for v in distinct)
    if not distinct:
        coding = "empty"
    elif integers:
        coding = "scored" if scale is not None else "coded"
    else:
        coding = "text"
    pos, neg = answer_lists(field_name, config.answers)
    if coding == "coded":
        code_of = lambda v: UNANSWERED if v == "" else _code_code(v, codes)  # noqa: E731
    elif coding == "scored":
        code_of = lambda v: UNANSWERED if v == "" else _score_code(float(v), scale)  # noqa: E731
    else:
        code_of = lambda v: _text_code(v, pos, neg, scale)  # noqa: E731
    result_u = np.array([code_of(v) for v in distinct_all], dtype=np.int8)
    result = pd.Series(result_u[cell_codes], index=values.index, dtype="int8")
    answered_u = ~blank_u
    recognisable = np.isin(result_u, [POSITIVE, NEGATIVE, UNANSWERED])
    reading = ColumnReading(field_name, header, coding)
    reading.non_blank = int(counts[answered_u].sum())
    reading.invalid = int(counts[answered_u & (result_u == INVALID)].sum())
    reading.invalid_examples = [v for v, r in zip(distinct_all, result_u) if r == INVALID][:5]
    reading.decoded = not bool((answered_u & (result_u == UNDECODED)).any())
    if not reading.decoded:
        reading.values_seen = sorted((v for v, r in zip(distinct_all, result_u) if r == UNDECODED),
                                     key=_sort_key)[:10]
    if coding in ("coded", "scored"):
        reading.recognised = int(counts[answered_u & recognisable].sum())
        reading.share = 1.0  # judged on its non-numeric cells only: there are none
    elif reading.non_blank:
        # 9.5: scores that ``scales:`` decodes are recognised answers like any other (``9,8,10,6,不清楚``
        # is 4 of 5). Scores it does not cover are numeric cells, left out of the judgement, so a
        # column of them stays the field's column (9.7's consequences: left out and reported).
        numeric = np.array([bool(_SCORE.match(v)) for v in distinct_all], dtype=bool)
        judged_u = answered_u & ~numeric if scale is None else answered_u
        judged = int(counts[judged_u].sum())
        reading.recognised = int(counts[judged_u & recognisable].sum())
        reading.share = reading.recognised / judged if judged else 1.0
    return result, reading


def _sort_key(v: str):
    try:
        return (0, float(v.rstrip("分星")))
    except ValueError:
        return (1, v)


def choose_columns(frame_cols: dict, cmap, file: str, config, known_communities: set) -> tuple[dict, list]:
    """Decide which keyword candidate serves each survey field (9.5); return (choices, notes).

    ``frame_cols`` maps column position → normalised cell values. ``choices`` maps field
    → column position; ``notes`` lists the candidates left out, as (field, header, why).
    """
    choices: dict = {}
    notes: list = []
    for fname, cols in cmap.candidates.items():
        if fname in cmap.alias:  # pinned or exact alias
            continue
        if fname == "comment":
            choices[fname] = cols[0]
            notes += [(fname, cmap.headers[c], "comment_extra") for c in cols[1:]]
            continue
        shares = []
        for c in cols:
            values = frame_cols[c]
            nb = values[values != ""]
            if fname in QUESTION_FIELDS:
                share = read_column(values, fname, cmap.headers[c], file, config)[1].share
            elif fname == "community":
                share = float(nb.isin(known_communities).mean()) if len(nb) else None
            else:  # address: leftmost readable column
                share = 1.0 if len(nb) else None
            shares.append(share)
        scored = [(s, c) for s, c in zip(shares, cols) if s is not None]
        good = [(s, c) for s, c in scored if s >= SHARE_NEEDED]
        for s, c in scored:
            if s < SHARE_NEEDED:
                notes.append((fname, cmap.headers[c], "looks_like"))
        if good:
            best = max(s for s, _ in good)
            top = [c for s, c in good if abs(s - best) < 1e-12]
            if len(top) > 1 and fname in QUESTION_FIELDS:
                names = "”与“".join(str(cmap.headers[c]).strip() for c in top)
                raise InputError(
                    f"两列都像是“{field_text(fname)}”的问题：“{names}”，回答的可识别比例相同，无法确定用哪一列",
                    file=file, column=str(cmap.headers[top[0]]).strip(),
                    expected=f"在 subdistrict.yml 中写 columns: {{{fname}: \"{str(cmap.headers[top[0]]).strip()}\"}}")
            choices[fname] = top[0]
            notes += [(fname, cmap.headers[c], "other_candidate") for s, c in good if c != top[0]]
        elif not scored and cols:
            choices[fname] = cols[0]  # no answers at all: nothing to judge, nothing lost
    return choices, notes


def duration_seconds(values: pd.Series) -> pd.Series:
    """Return durations in seconds from ``123秒``, ``2分3秒``, ``00:02:03`` or ``123`` (NaN otherwise)."""
    def parse(v: str):
        v = v.replace(" ", "")
        if not v:
            return np.nan
        m = re.fullmatch(r"(?:(\d+)小时)?(?:(\d+)分(?:钟)?)?(?:(\d+(?:\.\d+)?)秒)?", v)
        if m and any(m.groups()):
            h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return h * 3600 + mi * 60 + s
        m = re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", v)
        if m:
            a, b, c = m.groups()
            return int(a) * 3600 + int(b) * 60 + int(c) if c is not None else int(a) * 60 + int(b)
        try:
            return float(v)
        except ValueError:
            return np.nan
    return map_unique(values, parse).astype("float64")


def client_text(values: pd.Series) -> pd.Series:
    """Return the client address: the text before any ``(`` (``1.2.3.4(浙江-杭州)`` → ``1.2.3.4``)."""
    # Perf: one regex in Arrow; ``str.split`` made a Python list per row (~0.3 GiB at 1M rows).
    return values.str.replace(r"\([\s\S]*", "", regex=True).str.strip()
