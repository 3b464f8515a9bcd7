"""A district (区): several sub-district folders run as one batch, described by district.yml.

A data folder is a district when it has a ``district.yml``, or when it has no
``subdistrict.yml`` and at least two of its immediate sub-folders have one. Anything
else is a sub-district folder exactly as before (a lone sub-district, with or without
one folder per community, never becomes a district by accident).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from canvass.config import _known_mapping, _rate, _str_list, read_yaml
from canvass.errors import CanvassWarning, ConfigError
from canvass.slugs import assign_slugs
from canvass.vocab import DEFAULT_TARGETS, TARGET_KEYS

DISTRICT_FILE = "district.yml"
SUBDISTRICT_FILE = "subdistrict.yml"
KNOWN_KEYS = ("name", "subdistricts", "targets")
DEFAULT_DISTRICT_NAME = "全区"
# Folder names a sub-district slug may not take: they are OUT's own folders.
RESERVED_SLUGS = {"internal", "index"}


@dataclass(frozen=True)
class SubdistrictFolder:
    """One sub-district of a district: its folder, the name shown, and its output slug."""

    folder: Path
    name: str  # subdistrict.yml's name, else the folder's name
    slug: str


@dataclass(frozen=True)
class District:
    """What district.yml says (or the defaults), and the sub-districts in display order."""

    folder: Path
    name: str
    subdistricts: tuple[SubdistrictFolder, ...]
    targets: dict = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    targets_set: bool = False  # district.yml sets targets (else the built-in ones)
    source: str | None = None


def _candidate_folders(data_dir: Path) -> list[Path]:
    try:
        children = sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    return [p for p in children if (p / SUBDISTRICT_FILE).is_file()]


def is_district(data_dir: Path) -> bool:
    """Return whether ``data_dir`` is a district folder (the rule in the module docstring)."""
    data_dir = Path(data_dir)
    if (data_dir / DISTRICT_FILE).is_file():
        return True
    if (data_dir / SUBDISTRICT_FILE).is_file():
        return False
    return len(_candidate_folders(data_dir)) >= 2


def _subdistrict_name(folder: Path) -> str:
    """Return the name in a sub-district's subdistrict.yml, or the folder's name when it has none.

    A broken subdistrict.yml is not an error here: that sub-district fails on its own later.
    """
    try:
        raw = read_yaml(folder / SUBDISTRICT_FILE)
    except (ConfigError, OSError):
        return folder.name
    name = raw.get("name") if isinstance(raw, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else folder.name


def parse_district(raw: object, source: str) -> dict:
    """Return district.yml's keys checked (unknown keys are errors, as in subdistrict.yml)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("文件内容应为键值对（YAML 映射）", file=source)
    unknown = sorted(str(k) for k in raw if k not in KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"未知的配置项 unknown key(s): {', '.join(unknown)}", file=source,
                          expected="、".join(sorted(KNOWN_KEYS)))
    out: dict = {}
    if "name" in raw:
        if not isinstance(raw["name"], str) or not raw["name"].strip():
            raise ConfigError("name 应为区的名称文字", file=source, expected="如 name: 海滨区")
        out["name"] = raw["name"].strip()
    if "subdistricts" in raw:
        out["subdistricts"] = _str_list(raw["subdistricts"], "subdistricts", source)
    if "targets" in raw:
        t = _known_mapping(raw["targets"], "targets", TARGET_KEYS, source, "{awareness: 0.95, …}",
                           "指标 unknown target(s)")
        out["targets"] = {k: _rate(v, f"targets.{k}", source) for k, v in t.items()}
    return out


def load_district(data_dir: Path) -> District:
    """Return the district of ``data_dir`` (call when ``is_district``); ConfigError on a bad district.yml.

    Display order is district.yml's ``subdistricts`` (each a sub-folder's name or its
    subdistrict.yml ``name``); a listed one without a folder is an error. Folders it does
    not list are still run, after the listed ones in folder order, with a warning: data
    sent in is never silently left out of the district's figures.
    """
    data_dir = Path(data_dir)
    path = data_dir / DISTRICT_FILE
    spec = parse_district(read_yaml(path), str(path)) if path.is_file() else {}
    folders = _candidate_folders(data_dir)
    named = [(f, _subdistrict_name(f)) for f in folders]
    order: list[tuple[Path, str]] = []
    for entry in spec.get("subdistricts", ()):
        match = [(f, n) for f, n in named if entry in (f.name, n)]
        if not match:
            raise ConfigError(f"subdistricts 中的 “{entry}” 没有对应的街道文件夹（内含 {SUBDISTRICT_FILE}）",
                              file=str(path), expected="、".join(f.name for f in folders) or "每个街道一个文件夹")
        if match[0] in order:
            raise ConfigError(f"subdistricts 中 “{entry}” 重复", file=str(path))
        order.append(match[0])
    extra = [fn for fn in named if fn not in order]
    if spec.get("subdistricts") and extra:
        warnings.warn(CanvassWarning(f"{DISTRICT_FILE} 的 subdistricts 未列出：{'、'.join(n for _, n in extra)}，"
                                     f"仍一并生成，排在最后"), stacklevel=2)
    order += extra
    if not order:
        raise ConfigError(f"区文件夹中没有街道文件夹（每个街道一个文件夹，内含 {SUBDISTRICT_FILE}）",
                          file=str(data_dir), expected="如 海滨区/滨海街道/subdistrict.yml")
    names = [n for _, n in order]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"多个街道文件夹的名称相同：{'、'.join(dup)}", file=str(data_dir),
                          expected="各街道 subdistrict.yml 的 name 互不相同")
    slugs = assign_slugs([*RESERVED_SLUGS, *names])  # the reserved names take their slugs first
    subs = tuple(SubdistrictFolder(f, n, slugs[n]) for f, n in order)
    targets = dict(DEFAULT_TARGETS)
    targets.update(spec.get("targets", {}))
    return District(data_dir, spec.get("name", DEFAULT_DISTRICT_NAME), subs, targets, "targets" in spec,
                    str(path) if path.is_file() else None)
