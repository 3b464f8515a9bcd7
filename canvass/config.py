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
KINDS = ("households", "visits", "surveys", "issues", "activities", "shops")  # every input folder
# Seconds one notebook cell may run in the batch (--timeout) before that report counts as failed.
DEFAULT_TIMEOUT = 600

DEFAULT_NAME = "街道"
_KNOWN_KEYS = {"name", "communities", "campaign_start", "targets", "overdue_days",
               "issue_categories", "aliases", "answers", "files", "grids", "columns", "ignore_columns",
               "codes", "scales", "credibility", "assessment_date"}
DEFAULT_CREDIBILITY = {"min_seconds": 15, "burst_count": 5, "burst_minutes": 10}


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
    files: dict = field(default_factory=dict)  # glob → community (9.1)
    grids: dict = field(default_factory=dict)  # community → {grid: [buildings]} (9.2)
    columns: dict = field(default_factory=dict)  # field → normalised header (9.5)
    ignore_columns: tuple[str, ...] = ()  # normalised headers never used (9.5)
    codes: dict = field(default_factory=dict)  # field → {code: positive|negative}, or per glob (9.7)
    scales: dict = field(default_factory=dict)  # field → {positive_from, max}, or per glob (9.7)
    credibility: dict = field(default_factory=lambda: dict(DEFAULT_CREDIBILITY))
    assessment_date: dt.date | None = None
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


def parse_config(raw: object, source: str, base_targets: dict | None = None) -> Config:
    """Return a Config from parsed YAML, naming any unknown key or bad value.

    ``base_targets`` are the targets a key the file does not set falls back to (a district's
    ``district.yml``); without it, the built-in defaults.
    """
    base = dict(DEFAULT_TARGETS if base_targets is None else base_targets)
    if raw is None:
        return Config(source=source, targets=base)
    if not isinstance(raw, dict):
        _fail("文件内容应为键值对（YAML 映射）", source)
    unknown = sorted(str(k) for k in raw if k not in _KNOWN_KEYS)
    if unknown:
        _fail(f"未知的配置项 unknown key(s): {', '.join(unknown)}", source,
              "、".join(sorted(_KNOWN_KEYS)))
    kw: dict = {"source": source, "targets": dict(base)}
    if "name" in raw:
        if not isinstance(raw["name"], str) or not raw["name"].strip():
            _fail("name 应为街道名称文字", source)
        kw["name"] = raw["name"].strip()
    if "communities" in raw:
        kw["communities"] = _str_list(raw["communities"], "communities", source)
    if "campaign_start" in raw:
        kw["campaign_start"] = _date(raw["campaign_start"], "campaign_start", source)
    if "targets" in raw:
        t = _known_mapping(raw["targets"], "targets", TARGET_KEYS, source, "{awareness: 0.95, …}",
                           "指标 unknown target(s)")
        targets = dict(base)
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
    _parse_real_export_keys(raw, source, kw)
    return Config(**kw)


def _known_mapping(value, key: str, known: tuple, source: str, example: str, what: str) -> dict:
    """Return ``value`` when it is a mapping whose keys are all in ``known``; else fail naming the key."""
    if not isinstance(value, dict):
        _fail(f"{key} 应为键值对", source, example)
    bad = sorted(str(k) for k in value if k not in known)
    if bad:
        _fail(f"{key} 中未知的{what}: {', '.join(bad)}", source, ", ".join(known))
    return value


def _date(v, where: str, source: str) -> dt.date:
    if isinstance(v, str):
        try:
            v = dt.date.fromisoformat(v.strip())
        except ValueError:
            _fail(f"{where} 的值 {v!r} 无效", source, "日期如 2023-10-15")
    if not isinstance(v, dt.date):
        _fail(f"{where} 的值 {v!r} 无效", source, "日期如 2023-10-15")
    return v


def _buildings(value, where: str, source: str) -> tuple[str, ...]:
    """Return building numbers from ``[1-5, 7, "9"]`` as digit strings."""
    import re
    if not isinstance(value, list):
        value = [value]
    out = []
    for item in value:
        text = str(item).strip()
        m = re.fullmatch(r"(\d+)\s*[-~～–]\s*(\d+)", text)
        if m and int(m.group(1)) <= int(m.group(2)):
            out += [str(n) for n in range(int(m.group(1)), int(m.group(2)) + 1)]
        elif text.isdigit():
            out.append(str(int(text)))
        else:
            _fail(f"{where} 中的楼号 {item!r} 无效", source, "楼号或范围，如 [1-5, 7]")
    return tuple(out)


def _coding_map(value, where: str, source: str) -> dict:
    if not isinstance(value, dict):
        _fail(f"{where} 应为 编码: positive/negative 的键值对", source, "{1: positive, 2: negative}")
    out = {}
    for code, meaning in value.items():
        try:
            n = int(str(code).strip())
        except ValueError:
            _fail(f"{where} 中的编码 {code!r} 不是整数", source, "{1: positive, 2: negative}")
        if meaning not in ("positive", "negative"):
            _fail(f"{where}.{code} 的值 {meaning!r} 无效", source, "positive 或 negative")
        out[n] = meaning
    return out


def _scale(value, where: str, source: str) -> dict:
    if not isinstance(value, dict) or set(value) != {"positive_from", "max"}:
        _fail(f"{where} 应写明 positive_from 和 max", source, "{positive_from: 8, max: 10}")
    for k in ("positive_from", "max"):
        v = value[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            _fail(f"{where}.{k} 的值 {v!r} 无效", source, "非负数，如 8")
    if value["positive_from"] > value["max"]:
        _fail(f"{where} 的 positive_from 大于 max", source, "{positive_from: 8, max: 10}")
    return {"positive_from": float(value["positive_from"]), "max": float(value["max"])}


def _per_field(value, key: str, source: str, parse_one) -> dict:
    """Parse ``codes:``/``scales:``: field → mapping, or glob → {field → mapping}."""
    if not isinstance(value, dict):
        _fail(f"{key} 应为键值对", source)
    out: dict = {}
    for k, v in value.items():
        k = str(k)
        if k in METRIC_FIELDS:
            out[k] = parse_one(v, f"{key}.{k}", source)
        elif "/" in k or "*" in k or "?" in k or "." in k:
            if not isinstance(v, dict):
                _fail(f"{key}.“{k}” 应为 问题: 编码 的键值对", source)
            bad = [f for f in v if f not in METRIC_FIELDS]
            if bad:
                _fail(f"{key}.“{k}” 中未知的问题：{', '.join(map(str, bad))}", source, ", ".join(METRIC_FIELDS))
            out[k] = {f: parse_one(m, f"{key}.“{k}”.{f}", source) for f, m in v.items()}
        else:
            _fail(f"{key} 中未知的问题或文件名 {k!r}", source,
                  ", ".join(METRIC_FIELDS) + "，或文件名通配符如 \"surveys/腾讯问卷_*.csv\"")
    return out


def _parse_real_export_keys(raw: dict, source: str, kw: dict) -> None:
    """Parse the keys of contract sections 9, 10 and 12 into ``kw``."""
    from canvass.ingest.normalize import nfkc, normalize_header

    if "files" in raw:
        f = raw["files"]
        if not isinstance(f, dict) or not all(isinstance(v, str) and v.strip() for v in f.values()):
            _fail("files 应为 文件名通配符: 社区名称 的键值对", source, "{\"surveys/问卷星_2151*.xls\": 七一社区}")
        kw["files"] = {str(k).strip(): nfkc(v) for k, v in f.items()}
        todo = [k for k, v in kw["files"].items() if v == "待填写"]
        if todo:
            _fail(f"files 中 “{todo[0]}” 的社区还是“待填写”", source, "填写这个文件所属的社区名称")
    if "grids" in raw:
        g = raw["grids"]
        if not isinstance(g, dict) or not all(isinstance(v, dict) for v in g.values()):
            _fail("grids 应为 社区: {网格: [楼号…]} 的键值对", source, "{七一社区: {第1网格: [1-5]}}")
        kw["grids"] = {nfkc(str(c)): {nfkc(str(name)): _buildings(b, f"grids.{c}.{name}", source)
                                      for name, b in grids.items()} for c, grids in g.items()}
    if "columns" in raw:
        c = raw["columns"]
        from canvass.ingest.kinds import ALL_FIELDS
        if not isinstance(c, dict):
            _fail("columns 应为 字段: 表头 的键值对", source, "{satisfaction: \"7、您对社区创城工作是否满意？\"}")
        bad = sorted(str(k) for k in c if k not in ALL_FIELDS)
        if bad:
            _fail(f"columns 中未知的字段 unknown field(s): {', '.join(bad)}", source, ", ".join(sorted(ALL_FIELDS)))
        kw["columns"] = {k: normalize_header(str(v)) for k, v in c.items()}
    if "ignore_columns" in raw:
        kw["ignore_columns"] = tuple(normalize_header(v) for v in _str_list(raw["ignore_columns"], "ignore_columns", source))
    if "codes" in raw:
        kw["codes"] = _per_field(raw["codes"], "codes", source, _coding_map)
    if "scales" in raw:
        kw["scales"] = _per_field(raw["scales"], "scales", source, _scale)
    if "credibility" in raw:
        c = _known_mapping(raw["credibility"], "credibility", tuple(DEFAULT_CREDIBILITY), source,
                           "{min_seconds: 15, burst_count: 5, burst_minutes: 10}", "项 unknown key(s)")
        cred = dict(DEFAULT_CREDIBILITY)
        for k, v in c.items():
            low = 2 if k == "burst_count" else (0 if k == "min_seconds" else 1)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < low:
                _fail(f"credibility.{k} 的值 {v!r} 无效", source, f"不小于 {low} 的数")
            cred[k] = v
        kw["credibility"] = cred
    if "assessment_date" in raw:
        kw["assessment_date"] = _date(raw["assessment_date"], "assessment_date", source)


def load_config(data_dir: Path, config_file: Path | None = None, base_targets: dict | None = None) -> Config:
    """Return the Config from ``config_file`` or ``data_dir/subdistrict.yml`` (defaults if absent).

    ``base_targets``: the district's targets, which the file's own ``targets`` override key by key.
    """
    path = config_file if config_file is not None else data_dir / "subdistrict.yml"
    if config_file is not None and not path.is_file():
        raise ConfigError("配置文件不存在", file=str(path))
    if not path.is_file():
        return Config() if base_targets is None else Config(targets=dict(base_targets))
    return parse_config(read_yaml(path), str(path), base_targets)


def read_yaml(path: Path):
    """Return a YAML file's content; a file that is not UTF-8 or not YAML is a ConfigError naming the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("不是 UTF-8 编码的文本", file=str(path),
                          expected="UTF-8 编码的 YAML 文件（记事本“另存为”时编码选 UTF-8）") from None
    except OSError as exc:
        raise ConfigError(f"无法读取配置文件：{exc.strerror or exc}", file=str(path),
                          expected="可读取的 subdistrict.yml（关闭正在编辑它的程序后重试）") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        row, hint = _yaml_hint(text, mark.line + 1 if mark is not None else None)
        raise ConfigError(f"不是有效的 YAML：{hint or problem}", file=str(path), row=row,
                          expected="“键: 值” 形式（英文冒号后加空格），如 name: 人民路街道；列表写作 [甲, 乙]；"
                                   "缩进用空格") from None
    except ValueError as exc:  # a date-like value that is no date (2023-10-32): the loader's own ValueError
        where = _bad_date(text)
        value = f"“{where[1]}”" if where else ""
        raise ConfigError(f"{value}不是有效的日期 (invalid date: {exc})", file=str(path), row=where[0] if where else None,
                          expected="日期如 2023-10-15（年-月-日，该月确有这一天）") from None


def _yaml_hint(text: str, row: int | None) -> tuple[int | None, str]:
    """Return (line, what is wrong in staff's words) for the mistakes YAML reports vaguely or a line late."""
    import re

    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        body = line.split("#", 1)[0]
        if "\t" in line[: len(line) - len(line.lstrip())]:
            return i, "这一行用 Tab 缩进，YAML 只能用空格缩进"
        if re.match(r"^\s*[^\s:：\"'\[{][^:：]*：", body):
            return i, "这一行用了中文冒号“：”，请改为英文冒号加空格“: ”"
    return row, ""


def _bad_date(text: str) -> tuple[int, str] | None:
    """Return (line, value) of the first ``yyyy-mm-dd`` value that is no real date."""
    import re

    for i, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"(?<![\d-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d-])", line.split("#", 1)[0]):
            try:
                dt.date(*(int(g) for g in m.groups()))
            except ValueError:
                return i, m.group(0)
    return None
