"""Path-safe ASCII names for output files, derived from community names."""

from __future__ import annotations

import re
import unicodedata

from pypinyin import lazy_pinyin

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_SUFFIXES = (("社区", "shequ"), ("村", "cun"), ("街道", "jiedao"))
MAX_LEN = 48


def _ascii(text: str) -> str:
    parts = lazy_pinyin(text, errors=lambda s: list(s))
    joined = "".join(parts)
    joined = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", joined.lower()).strip("-")


def slugify(name: str) -> str:
    """Return a path-safe ASCII slug: ``修竹社区`` → ``xiuzhu-shequ``; never empty or reserved."""
    name = unicodedata.normalize("NFKC", str(name)).strip()
    tail = ""
    for suffix, py in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name, tail = name[: -len(suffix)], py
            break
    slug = "-".join(p for p in (_ascii(name), tail) if p)[:MAX_LEN].strip("-")
    if not slug:
        slug = "community"
    if slug in _WINDOWS_RESERVED or slug.split("-")[0] in _WINDOWS_RESERVED:
        slug = f"c-{slug}"
    return slug


def assign_slugs(names: list[str]) -> dict[str, str]:
    """Return community → unique slug, collisions numbered ``-2``, ``-3`` in display order."""
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
