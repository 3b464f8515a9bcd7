"""The batch declared as data: options, notebook parameters, and the plan of tasks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from canvass.config import DEFAULT_TIMEOUT, NOTEBOOKS, SAMPLE_DATA, Config, load_config
from canvass.errors import CanvassWarning, InputError, ParameterError
from canvass.ingest.clean import Cleaned, check_data_folder, clean_folder
from canvass.ingest.read_cache import ReadCache
from canvass.metrics import latest_week, metrics_over_weeks, week_rows, week_without_data
from canvass.run.store import (
    input_fingerprint,
    load_cached,
    output_fingerprint,
    reuse_history,
    save_history,
    save_prepared,
)
from canvass.slugs import assign_slugs
from canvass.weeks import format_week_cn, parse_week

COMMUNITY_NB = NOTEBOOKS / "community_report.ipynb"


DIGEST_NB = NOTEBOOKS / "subdistrict_digest.ipynb"


BATCH_SET = {"community", "week", "data_dir", "prepared_dir", "metrics_file", "run_file", "digest_href", "config_file"}


TARGET_PARAMS = ("awareness", "support", "participation", "satisfaction", "garbage_sorting", "coverage")


def declared_parameters() -> dict:
    """Return {notebook name: {param: info}} as papermill infers them from the parameters cells."""
    import papermill as pm

    return {nb.stem: pm.inspect_notebook(str(nb)) for nb in (COMMUNITY_NB, DIGEST_NB)}


def _convert(name: str, text: str, type_name: str):
    t = type_name.replace("Optional[", "").rstrip("]").strip()
    optional = type_name.startswith("Optional[")
    if optional and text.strip().lower() in ("none", "null", ""):
        return None
    try:
        if t == "float":
            return float(text)
        if t == "int":
            return int(text)
        if t == "bool":
            low = text.strip().lower()
            if low in ("true", "1", "yes", "是"):
                return True
            if low in ("false", "0", "no", "否"):
                return False
            raise ValueError(text)
    except ValueError:
        raise ParameterError(f"参数 {name} 的值 “{text}” 不是 {t}", expected=f"{type_name} 类型的值") from None
    return text


def parse_overrides(pairs: list[tuple[str, str]]) -> dict:
    """Return -p NAME VALUE overrides converted to the declared types; unknown names are errors."""
    declared = declared_parameters()
    known = {}
    for params in declared.values():
        for name, info in params.items():
            known.setdefault(name, info["inferred_type_name"])
    out = {}
    for name, text in pairs:
        if name in BATCH_SET:
            raise ParameterError(f"参数 {name} 由批处理设置，不能用 -p 指定",
                                 expected="用 --community / --week / --data / --config 选项")
        if name not in known:
            valid = ", ".join(sorted(n for n in known if n not in BATCH_SET))
            raise ParameterError(f"没有名为 “{name}” 的笔记本参数 (unknown parameter)", expected=valid)
        value = _convert(name, text, known[name])
        if name.startswith("target_") and value is not None and not 0 <= value <= 1:
            raise ParameterError(f"参数 {name} 的值 {value} 超出范围", expected="0 到 1 之间的小数，如 0.9")
        if name == "overdue_days" and value is not None and value < 1:
            raise ParameterError(f"参数 {name} 的值 {value} 应为正整数", expected="正整数")
        out[name] = value
    return out


def list_params_text() -> str:
    """Return every notebook's parameters with type, default and help, for --list-params."""
    lines = []
    for nb, params in declared_parameters().items():
        lines.append(f"{nb}.ipynb")
        for name, info in params.items():
            lines.append(f"  {name}: {info['inferred_type_name']} (默认 default {info['default']})")
            if info.get("help"):
                lines.append(f"      {info['help']}")
    return "\n".join(lines)


@dataclass
class BatchOptions:
    """What the analyst asked for."""

    data_dir: Path = SAMPLE_DATA
    out_dir: Path = Path("reports")
    week: str | None = None
    communities: list = field(default_factory=list)
    jobs: int = 2
    params: dict = field(default_factory=dict)
    config_file: Path | None = None
    force: bool = False
    executor: str = "local"
    scheduler: str | None = None
    warm: bool = True
    lock_wait: float = 0.0
    timeout: int = DEFAULT_TIMEOUT
    today: dt.date | None = None
    # The notebook each community report runs; tests point it at fixtures (tests/notebooks/).
    community_notebook: Path = COMMUNITY_NB
    # Where personal data goes (default OUT/internal); a district puts each sub-district's
    # under OUT/internal/<slug> while its shareable files go to OUT/<slug>.
    internal_dir: Path | None = None
    # A district's targets, under the sub-district's own subdistrict.yml targets (None: built-in).
    base_targets: dict | None = None
    # The sub-district digest's link up to the district digest (a district run sets it).
    district_href: str | None = None
    # Run the digest beside the last communities on their expected outcomes (batch.SpeculativeDigest).
    speculative_digest: bool = True


def internal_root(options: BatchOptions) -> Path:
    """Return the folder of the run's personal data (never forwarded)."""
    return Path(options.internal_dir) if options.internal_dir is not None else Path(options.out_dir) / "internal"


@dataclass
class Plan:
    """The batch as data: cleaned inputs, the week, its metrics (and their history) and the notebook tasks."""

    options: BatchOptions
    config: Config
    cleaned: Cleaned
    week: str
    week_chosen: bool
    metrics: pd.DataFrame
    history: pd.DataFrame  # every campaign week's metrics: what every report shows
    history_file: Path
    slugs: dict
    prepared_dir: Path
    tasks: list  # run.tasks.NotebookTask, one per selected community
    selected: list
    targets: dict
    timings: dict
    slice_hashes: dict = field(default_factory=dict)  # community → sha256 of its prepared slice


def _hash_dir(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepared_location(options: BatchOptions) -> tuple[Config, Path]:
    """Validate the data folder and configuration; return (config, the prepared-slices folder).

    The folder is keyed by the sha256 of every input, the configuration and the code,
    so an existing one holds exactly what cleaning these inputs would produce.
    """
    data_dir = check_data_folder(Path(options.data_dir))
    config = load_config(data_dir, options.config_file, options.base_targets)
    cache = internal_root(options) / ".cache" / "prepared"
    key = input_fingerprint(data_dir, options.config_file)
    if options.base_targets is not None:  # the district's targets are part of the configuration
        key += "-" + hashlib.sha256(json.dumps(options.base_targets, sort_keys=True).encode()).hexdigest()[:8]
    return config, cache / key


def read_cache_for(options: BatchOptions, use_cache: bool = True, write: bool = True) -> ReadCache:
    """Return the run's cache of read files, beside the prepared slices (``ingest/read_cache.py``).

    ``--force`` (or ``use_cache=False``) reads every file again; the entries are still written
    (published with the prepared slices) unless ``write=False``.
    """
    return ReadCache(internal_root(options) / ".cache" / "read", reuse=use_cache and not options.force, write=write)


def load_and_clean(options: BatchOptions, use_cache: bool = True) -> tuple[Config, Cleaned]:
    """Return the configuration and the cleaned inputs (InputError/ConfigError on bad input)."""
    config, prepared = prepared_location(options)
    cleaned = load_cached(prepared) if use_cache else None
    if cleaned is None:
        # --check uses the read cache of a batch already run into OUT; it writes nothing there.
        reads = read_cache_for(options, use_cache, write=False) if prepared.parent.parent.is_dir() else None
        cleaned = clean_folder(Path(options.data_dir), config, reads)
    return config, cleaned


def choose_week(options: BatchOptions, cleaned: Cleaned) -> tuple[str, bool]:
    """Return (week, chosen automatically)."""
    if options.week:
        week = parse_week(options.week)
        why = week_without_data(cleaned, week)
        if why:  # still reported (its cumulative numbers are real), but never in silence
            warnings.warn(CanvassWarning(f"报告周 {week}：{why}"), stacklevel=2)
        return week, False
    found = latest_week(cleaned, options.today)
    if found is None:
        raise InputError("数据中没有已结束的一周（周日早于今天）的走访或问卷记录，无法自动确定报告周", file=str(options.data_dir),
                         expected="用 --week 指定，如 --week 2023-W36")
    return found, True


def plan_batch(options: BatchOptions, config: Config, cleaned: Cleaned, week: str, chosen: bool,
               prepared: Path) -> Plan:
    """Return the batch plan: metrics for every community, tasks for the selected ones."""
    t0 = time.perf_counter()
    out = Path(options.out_dir)
    selected = list(cleaned.communities)
    if options.communities:
        unknown = [c for c in options.communities if c not in cleaned.communities]
        if unknown:
            raise ParameterError(f"数据中没有社区：{'、'.join(unknown)}", expected="、".join(cleaned.communities))
        selected = [c for c in cleaned.communities if c in options.communities]
    overrides = {k: v for k, v in options.params.items()}
    targets = dict(config.targets)
    for k in TARGET_PARAMS:
        if overrides.get(f"target_{k}") is not None:
            targets[k] = float(overrides[f"target_{k}"])
    overdue = overrides.get("overdue_days") or config.overdue_days
    # The one computation of every number shown: the notebooks read it from history_file.
    internal = internal_root(options)
    history_file = internal / week / "metrics_history.parquet"
    # Keyed by the prepared folder (every input, the configuration, the code), the week and
    # what the numbers depend on: a re-run from the same inputs reads it back.
    history_key = hashlib.sha256(json.dumps([prepared.name, week, targets, overdue], sort_keys=True,
                                            default=str).encode()).hexdigest()[:24]
    history = None if options.force else reuse_history(history_file, history_key)
    if history is None:
        history = metrics_over_weeks(cleaned, week, targets, overdue)
        save_history(history, history_file, history_key)  # what the notebooks read
    metrics = week_rows(history, week)
    # The names' pinyin is kept beside the other caches: a re-run never imports pypinyin (1.8 s).
    slugs = assign_slugs(list(cleaned.communities), memo=internal / ".cache" / "slugs.json", reuse=not options.force)
    if not (prepared / "meta.json").is_file():
        save_prepared(cleaned, prepared)
    code = output_fingerprint()  # templates, CSS, fonts and version too, not only *.py
    notebook = Path(options.community_notebook)
    nb_hash = _file_hash(notebook)
    data_param = str(Path(options.data_dir).resolve())
    slice_hashes = {c: _hash_dir(prepared / f"c{i:04d}") for i, c in enumerate(cleaned.communities)}
    tasks = []
    for community in selected:
        slug = slugs[community]
        params = {"community": community, "week": week, "data_dir": data_param, "prepared_dir": str(prepared.resolve()),
                  "metrics_file": str(history_file.resolve()), "digest_href": "../digest.html", **overrides}
        if options.config_file:
            params["config_file"] = str(Path(options.config_file).resolve())
        shown = history[(history["scope"] == "community") & (history["community"] == community)]
        key_src = json.dumps({"slice": slice_hashes[community],
                              "metrics": shown.to_csv(index=False),
                              "params": {k: v for k, v in params.items() if k not in ("prepared_dir", "metrics_file")},
                              "notebook": nb_hash, "code": code, "week": week, "sample": _is_sample(options)},
                             ensure_ascii=False, sort_keys=True, default=str)
        tasks.append({
            "kind": "community", "community": community, "slug": slug, "week": week,
            "notebook": str(notebook), "parameters": params,
            "timeout": options.timeout, "warm": options.warm,
            "executed": str(internal / week / "notebooks" / f"{slug}.ipynb"),
            "html": str(out / week / "communities" / f"{slug}.html"),
            "followup": str(internal / week / "followup" / f"{slug}.xlsx"),
            "prepared_dir": str(prepared), "title": f"{community} 创城入户宣传周报 {format_week_cn(week)}",
            "key": hashlib.sha256(key_src.encode()).hexdigest()[:24],
        })
    return Plan(options, config, cleaned, week, chosen, metrics, history, history_file, slugs, prepared, tasks, selected,
                targets, {"plan": round(time.perf_counter() - t0, 3)}, slice_hashes)


def _is_sample(options: BatchOptions) -> bool:
    try:
        return Path(options.data_dir).resolve() == SAMPLE_DATA.resolve()
    except OSError:
        return False
