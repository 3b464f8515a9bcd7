"""Paths from one place, and the sub-district configuration (subdistrict.yml)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from canvass.errors import ConfigError
from canvass.vocab import (
    DEFAULT_CATEGORIES,
    DEFAULT_OVERDUE_DAYS,
    DEFAULT_TARGETS,
    METRIC_FIELDS,
    TARGET_KEYS,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# Run from a source checkout (editable install, PYTHONPATH) or from an installed wheel.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "notebooks").is_dir()
# The bundled sample exists only in a checkout; an installed package needs --data.
SAMPLE_DATA = PROJECT_ROOT / "data" / "sample"
# Staff open notebooks/ in the checkout; a wheel carries the same files as canvass/notebooks.
NOTEBOOKS = PROJECT_ROOT / "notebooks" if IN_CHECKOUT else PACKAGE_DIR / "notebooks"


def user_cache_dir() -> Path:
    """Return this user's cache folder for canvass (never inside the installed package)."""
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "canvass" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "canvass"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "canvass"


# On-demand cleaning cache for notebooks run on their own (the batch keeps its own under --out):
# .cache/ in a checkout, the user cache folder when installed; CANVASS_CACHE_DIR moves it.
CACHE_DIR = Path(os.environ.get("CANVASS_CACHE_DIR") or (PROJECT_ROOT / ".cache" if IN_CHECKOUT else user_cache_dir()))
KINDS = ("households", "visits", "surveys", "issues")
# Seconds one notebook cell may run in the batch (--timeout) before that report counts as failed.
DEFAULT_TIMEOUT = 600

DEFAULT_NAME = "街道"
_KNOWN_KEYS = {"name", "communities", "campaign_start", "targets", "overdue_days",
               "issue_categories", "aliases", "answers"}


def resolve_project_path(path: str | Path) -> Path:
    """Return ``path`` as given if absolute, else resolved against the checkout (installed: the cwd)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else ((PROJECT_ROOT if IN_CHECKOUT else Path.cwd()) / p)


@dataclass(frozen=True)
class Config:
    """The sub-district's settings; every field has the contract's default."""

    name: str = DEFAULT_NAME
    communities: tuple[str, ...] = ()
    campaign_start: dt.date | None = None
    targets: dict = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    overdue_days: int = DEFAULT_OVERDUE_DAYS
    issue_categories: tuple[str, ...] = DEFAULT_CATEGORIES
    aliases: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)
    source: str | None = None

    def with_targets(self, **overrides) -> "Config":
        """Return a copy whose targets take ``overrides`` (None values are ignored)."""
        targets = dict(self.targets)
        targets.update({k: v for k, v in overrides.items() if v is not None})
        return replace(self, targets=targets)


def _fail(msg: str, source: str, expected: str | None = None):
    raise ConfigError(msg, file=source, expected=expected)


def _rate(value, where: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        _fail(f"{where} 的值 {value!r} 无效", source, "0 到 1 之间的小数，如 0.95")
    return float(value)


def _str_list(value, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        _fail(f"{where} 应为文字列表", source, "[甲, 乙]")
    from canvass.ingest.normalize import nfkc
    return tuple(nfkc(str(v)) for v in value)


def parse_config(raw: object, source: str) -> Config:
    """Return a Config from parsed YAML, naming any unknown key or bad value."""
    if raw is None:
        return Config(source=source)
    if not isinstance(raw, dict):
        _fail("文件内容应为键值对（YAML 映射）", source)
    unknown = sorted(str(k) for k in raw if k not in _KNOWN_KEYS)
    if unknown:
        _fail(f"未知的配置项 unknown key(s): {', '.join(unknown)}", source,
              "、".join(sorted(_KNOWN_KEYS)))
    kw: dict = {"source": source}
    if "name" in raw:
        if not isinstance(raw["name"], str) or not raw["name"].strip():
            _fail("name 应为街道名称文字", source)
        kw["name"] = raw["name"].strip()
    if "communities" in raw:
        kw["communities"] = _str_list(raw["communities"], "communities", source)
    if "campaign_start" in raw:
        v = raw["campaign_start"]
        if isinstance(v, str):
            try:
                v = dt.date.fromisoformat(v.strip())
            except ValueError:
                _fail(f"campaign_start 的值 {v!r} 无效", source, "日期如 2023-08-07")
        if not isinstance(v, dt.date):
            _fail(f"campaign_start 的值 {v!r} 无效", source, "日期如 2023-08-07")
        kw["campaign_start"] = v
    if "targets" in raw:
        t = raw["targets"]
        if not isinstance(t, dict):
            _fail("targets 应为键值对", source, "{awareness: 0.95, …}")
        bad = sorted(str(k) for k in t if k not in TARGET_KEYS)
        if bad:
            _fail(f"targets 中未知的指标 unknown target(s): {', '.join(bad)}", source, ", ".join(TARGET_KEYS))
        targets = dict(DEFAULT_TARGETS)
        targets.update({k: _rate(v, f"targets.{k}", source) for k, v in t.items()})
        kw["targets"] = targets
    if "overdue_days" in raw:
        v = raw["overdue_days"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            _fail(f"overdue_days 的值 {v!r} 无效", source, "非负整数，如 7")
        kw["overdue_days"] = v
    if "issue_categories" in raw:
        cats = _str_list(raw["issue_categories"], "issue_categories", source)
        kw["issue_categories"] = cats if "其他" in cats else cats + ("其他",)
    if "aliases" in raw:
        from canvass.ingest.kinds import ALL_FIELDS
        a = raw["aliases"]
        if not isinstance(a, dict):
            _fail("aliases 应为 字段: [别名…] 的键值对", source)
        bad = sorted(str(k) for k in a if k not in ALL_FIELDS)
        if bad:
            _fail(f"aliases 中未知的字段 unknown field(s): {', '.join(bad)}", source, ", ".join(sorted(ALL_FIELDS)))
        kw["aliases"] = {k: _str_list(v, f"aliases.{k}", source) for k, v in a.items()}
    if "answers" in raw:
        a = raw["answers"]
        if not isinstance(a, dict):
            _fail("answers 应为 问题: {positive: […], negative: […]}", source)
        answers = {}
        for k, v in a.items():
            if k not in METRIC_FIELDS:
                _fail(f"answers 中未知的问题 unknown question: {k}", source, ", ".join(METRIC_FIELDS))
            if not isinstance(v, dict) or set(v) - {"positive", "negative"}:
                _fail(f"answers.{k} 只能有 positive 和 negative", source)
            answers[k] = {pol: _str_list(vals, f"answers.{k}.{pol}", source) for pol, vals in v.items()}
        kw["answers"] = answers
    return Config(**kw)


def load_config(data_dir: Path, config_file: Path | None = None) -> Config:
    """Return the Config from ``config_file`` or ``data_dir/subdistrict.yml`` (defaults if absent)."""
    path = config_file if config_file is not None else data_dir / "subdistrict.yml"
    if config_file is not None and not path.is_file():
        raise ConfigError("配置文件不存在", file=str(path))
    if not path.is_file():
        return Config()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError("不是 UTF-8 编码的文本", file=str(path), expected="UTF-8 编码的 YAML 文件") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"不是有效的 YAML：{problem}", file=str(path),
                          row=(mark.line + 1) if mark is not None else None,
                          expected="“键: 值” 形式，如 name: 人民路街道；列表写作 [甲, 乙]") from None
    return parse_config(raw, str(path))
