"""Find a file's header row and map its columns to fields (contract sections 2, 9.0, 9.3, 9.4).

Precedence: a header pinned by ``columns:`` beats everything; exact aliases (first
listed wins) beat survey keyword rules; split address columns beat an address string;
bookkeeping columns are never a question, address or community column. Survey
question columns found by keyword are only *candidates* here: which one serves a
field is decided from their answers (``ingest.answers.choose_columns``, section 9.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from canvass.errors import InputError
from canvass.ingest import kinds
from canvass.ingest.kinds import ADDRESS, ADDRESS_ALIASES, BUILDING, ROOM, UNIT, Kind
from canvass.ingest.normalize import normalize_header
from canvass.vocab import QUESTION_FIELDS, field_text

HEADER_SCAN_ROWS = 10


@dataclass
class ColumnMap:
    """How one file's header maps to fields.

    ``fields``: field → column position (decided); ``candidates``: survey field → keyword
    columns still to be judged by their answers; ``ignored``: header texts not used;
    ``alias``: field → the normalised header that matched (for per-header vocabularies).
    """

    fields: dict
    split_address: bool
    ignored: list
    candidates: dict = field(default_factory=dict)
    alias: dict = field(default_factory=dict)
    headers: list = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.fields


def aliases_for(kind: Kind, extra: dict) -> dict:
    """Return field → aliases for a kind, built-in first then subdistrict.yml's extras."""
    out = {f.name: tuple(f.aliases) for f in kind.fields}
    if kind.address in ("required", "optional"):
        out.update(ADDRESS_ALIASES)
    elif kind.name == "issues":
        out.setdefault("address", ADDRESS)  # issues may carry an address, never required to match
    for f, more in extra.items():
        if f in out or (kind.keyword_rules and f in kinds.SURVEY_FIELDS):
            out[f] = tuple(out.get(f, ())) + tuple(more)
    return out


def _keyword_field(header: str) -> str | None:
    return next((f for f, rule in kinds.KEYWORD_RULES if rule(header)), None)


def header_hits(cells: list, kind: Kind, extra: dict) -> int:
    """Return how many cells of a row look like headers of this kind (section 9.0)."""
    names = {a for aliases in aliases_for(kind, extra).values() for a in aliases}
    hits = 0
    for v in cells:
        if not str(v).strip():
            continue
        h = normalize_header(v)
        if h in names or (kind.keyword_rules and (kinds.is_bookkeeping(h) or _keyword_field(h))):
            hits += 1
    return hits


def find_header_row(rows, kind: Kind, extra: dict, file: str) -> int:
    """Return the index of the header row: the first of the first ten with two header-like cells."""
    scanned = []
    for i, row in enumerate(rows):
        if i >= HEADER_SCAN_ROWS:
            break
        scanned.append(list(row))
        if header_hits(scanned[-1], kind, extra) >= 2:
            return i
    examples = "、".join(dict.fromkeys(a for f in kind.fields for a in f.aliases[:1]))
    other = next(filter(None, (misplaced_kind(cells, kind, extra) for cells in scanned)), None)
    raise InputError(f"前 {HEADER_SCAN_ROWS} 行中找不到{kind.label}的表头 (no header row found)", file=file,
                     expected=f"表头行至少有两列是常见列名，如 {examples}；"
                              + (misplaced_text(other) if other else "请检查文件是否放错了文件夹"))


def misplaced_kind(headers, kind: Kind, extra: dict) -> Kind | None:
    """Return the other kind whose table this header row is, when it fits that kind better than ``kind``.

    A survey file dropped into visits/ (or a visits ledger into surveys/) is the usual cause
    of a "missing column" error or of a survey file without questions; saying which folder
    the file belongs in is the fix staff need. The other kind must take the header without a
    missing column and recognise more of its cells than ``kind`` does.
    """
    cells = [h for h in headers if str(h).strip()]
    own = header_hits(cells, kind, extra)
    best, best_hits = None, max(own, 1)
    for other in kinds.KINDS.values():
        if other.name == kind.name:
            continue
        hits = header_hits(cells, other, extra)
        if hits <= best_hits:
            continue
        try:
            cmap = map_columns(cells, other, extra, "", hint=False)
        except InputError:
            continue
        if other.keyword_rules and not any(f in cmap.fields for f in QUESTION_FIELDS):
            continue  # a survey without a single question is no better a fit
        best, best_hits = other, hits
    return best


def misplaced_text(other: Kind) -> str:
    """The sentence that tells staff which folder a misplaced file belongs in."""
    return f"这个文件的表头像是{other.label}，是否放错了文件夹？请移到 {other.name}/ 文件夹"


def _accepted(kind: Kind, fname: str, aliases: dict) -> str:
    if fname == "address":
        return ("、".join(ADDRESS) + "，或分列 " + "/".join(BUILDING) + " + " + "/".join(UNIT)
                + " + " + "/".join(ROOM))
    return "、".join(aliases.get(fname, ()))


def map_columns(headers: list, kind: Kind, extra_aliases: dict, file: str, *, pins: dict | None = None,
                ignore: tuple = (), header_row: int | None = None, hint: bool = True) -> ColumnMap:
    """Return the ColumnMap of a header row, or raise InputError naming what is missing.

    ``pins`` (field → normalised header, from ``columns:``) and ``ignore`` (normalised
    headers, from ``ignore_columns:``) come from subdistrict.yml. ``hint``: say which other
    folder the file belongs in when its header is another kind's table.
    """
    norm = [normalize_header(h) for h in headers]
    aliases = aliases_for(kind, extra_aliases)
    chosen: dict = {}
    alias_of: dict = {}
    taken = {i for i, h in enumerate(norm) if not h or h in ignore}
    for fname, header in (pins or {}).items():
        hits = [i for i, h in enumerate(norm) if h == header and i not in taken]
        if hits:
            chosen[fname] = hits[0]
            alias_of[fname] = header
            taken.add(hits[0])
    book = set()
    if kind.keyword_rules:
        book = {i for i, h in enumerate(norm) if i not in taken and kinds.is_bookkeeping(h)}
        for fname, test in kinds.BOOKKEEPING_FIELDS:
            hits = [i for i in sorted(book) if test(norm[i]) and i not in taken]
            if hits and fname not in chosen:
                chosen[fname] = hits[0]
                taken.add(hits[0])
    for fname, names in aliases.items():
        if fname in chosen:
            continue
        for alias in names:  # the alias listed first wins
            hits = [i for i, h in enumerate(norm) if h == alias and i not in taken and i not in book]
            if hits:
                chosen[fname] = hits[0]
                alias_of[fname] = alias
                taken.add(hits[0])
                break
    candidates: dict = {}
    if kind.keyword_rules:
        for i, h in enumerate(norm):
            if i in taken or i in book:
                continue
            fname = _keyword_field(h)
            if fname is not None and fname not in chosen:
                candidates.setdefault(fname, []).append(i)
        if "building" in chosen:
            candidates.pop("address", None)
        # Address and community candidates are settled in the file's context (answers.py);
        # a single question candidate is provisionally the field's column.
        for fname, cols in candidates.items():
            chosen.setdefault(fname, cols[0])
    split = "building" in chosen and "room" in chosen
    if split:
        chosen.pop("address", None)
        candidates.pop("address", None)
    else:
        for part in ("building", "unit", "room"):
            chosen.pop(part, None)
    missing = [f for f in kind.required if f not in chosen]
    if kind.address_required and "address" not in chosen and not split:
        missing.append("address")
    if missing:
        f = missing[0]
        where = f"（按第 {header_row} 行作表头）" if header_row else ""
        other = misplaced_kind(headers, kind, extra_aliases) if hint else None
        raise InputError(f"缺少必需的列：{field_text(f)}{where} (missing required column)", file=file,
                         column=f, expected=(misplaced_text(other) + "；否则" if other else "")
                         + f"表头中有以下之一：{_accepted(kind, f, aliases)}；"
                           f"或在 subdistrict.yml 的 aliases/columns 中写明用哪一列")
    return ColumnMap(fields=chosen, split_address=split, ignored=ignored_headers(headers, chosen),
                     candidates={f: c for f, c in candidates.items() if f in QUESTION_FIELDS + ("comment",
                                                                                              "address", "community")},
                     alias=alias_of, headers=list(headers))


def ignored_headers(headers: list, chosen: dict) -> list:
    """Return the non-blank headers of columns that serve no field."""
    used = set(chosen.values())
    return [str(h) for i, h in enumerate(headers) if i not in used and str(h).strip()]
