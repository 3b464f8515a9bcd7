"""Path-safe ASCII names for output files, derived from community names.

Perf: importing pypinyin loads its phrase dictionary, 1.8 s of CPU, which was a third of a
re-run with nothing changed. A batch keeps the pinyin of the names it has seen in a small
memo beside its other caches (``assign_slugs(..., memo=…)``): a later run over the same
names never imports pypinyin. The memo is keyed by pypinyin's version and only holds text
that the pinyin step can produce (lower-case letters, digits and single hyphens), so a damaged
or edited memo can never yield an unsafe file name; a stale one is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import unicodedata
from pathlib import Path

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_SUFFIXES = (("社区", "shequ"), ("村", "cun"), ("街道", "jiedao"))
MAX_LEN = 48


_MEMO_FORMAT = 1
_MEMO_MAX = 5000  # names kept (a district has ~1,000 communities); the oldest go first
_MEMO_VALUE = re.compile(r"(?:[a-z0-9]+(?:-[a-z0-9]+)*)?")
_memo: dict = {}  # name → _ascii(name), for this process (a pure function of the name)


def _pinyin_ascii(text: str) -> str:
    from pypinyin import lazy_pinyin

    parts = lazy_pinyin(text, errors=lambda s: list(s))
    joined = "".join(parts)
    joined = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", joined.lower()).strip("-")


def _ascii(text: str) -> str:
    if text not in _memo:
        _memo[text] = _pinyin_ascii(text)
    return _memo[text]


def _memo_key() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{_MEMO_FORMAT}/pypinyin {version('pypinyin')}"
    except PackageNotFoundError:  # pragma: no cover - pypinyin is a dependency
        return f"{_MEMO_FORMAT}/pypinyin ?"


def _load_memo(path: Path, key: str) -> None:
    """Add a memo file's entries to this process's memo (nothing when missing, stale or damaged)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("names"), dict):
        return
    for name, value in data["names"].items():
        if isinstance(name, str) and isinstance(value, str) and _MEMO_VALUE.fullmatch(value):
            _memo.setdefault(name, value)


def _save_memo(path: Path, key: str, names: list) -> None:
    """Write the memo of ``names`` (and the others already there, newest last); never fails a run."""
    path = Path(path)
    kept: dict = {}
    with contextlib.suppress(OSError, ValueError, AttributeError):
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("key") == key:
            kept = {k: v for k, v in old["names"].items()
                    if isinstance(k, str) and isinstance(v, str) and _MEMO_VALUE.fullmatch(v)}
    for name in names:
        kept.pop(name, None)
        kept[name] = _memo[name]
    kept = dict(list(kept.items())[-_MEMO_MAX:])
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")  # the batch's temp-file pattern
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"key": key, "names": kept}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # another run may be writing it too: either version is right
    except OSError:  # a read-only or busy cache folder: the run goes on without its memo
        with contextlib.suppress(OSError):
            tmp.unlink()


def _stem(name: str) -> tuple[str, str]:
    """Return (the name without its 社区/村/街道 suffix, NFKC and trimmed; the suffix's pinyin)."""
    name = unicodedata.normalize("NFKC", str(name)).strip()
    for suffix, py in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], py
    return name, ""


def slugify(name: str) -> str:
    """Return a path-safe ASCII slug: ``修竹社区`` → ``xiuzhu-shequ``; never empty or reserved."""
    name, tail = _stem(name)
    slug = "-".join(p for p in (_ascii(name), tail) if p)[:MAX_LEN].strip("-")
    if not slug:
        slug = "community"
    if slug in _WINDOWS_RESERVED or slug.split("-")[0] in _WINDOWS_RESERVED:
        slug = f"c-{slug}"
    return slug


def assign_slugs(names: list[str], memo: Path | None = None, reuse: bool = True) -> dict[str, str]:
    """Return community → unique slug, collisions numbered ``-2``, ``-3`` in display order.

    ``memo``: a JSON file that keeps the names' pinyin between runs (read unless ``reuse`` is
    False, as with ``--force``; written when this call met a name it did not hold).
    """
    key = _memo_key() if memo is not None else ""
    stems = list(dict.fromkeys(_stem(name)[0] for name in names))
    if memo is not None and reuse:
        _load_memo(memo, key)
    if not reuse:  # --force: the pinyin of every name again
        for stem in stems:
            _memo[stem] = _pinyin_ascii(stem)
    new = [stem for stem in stems if stem not in _memo]
    for stem in new:
        _ascii(stem)
    if memo is not None and (new or not reuse or not Path(memo).is_file()):
        _save_memo(memo, key, stems)
    out, used = {}, set()
    for name in names:
        base = slugify(name)
        slug, n = base, 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        out[name] = slug
    return out
