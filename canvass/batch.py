"""The weekly batch, declared as data then executed.

``plan_batch`` reads and cleans the inputs once, computes every community's metrics and
lists the notebook tasks (community, week, parameters, output paths, a reuse key);
``run_batch`` executes them on an executor, renders the digest, and writes every output
of the data contract atomically under one lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__
from .atomic import OutputLock, write_bytes, write_json
from .clean import Cleaned, check_data_folder, clean_folder
from .config import NOTEBOOKS, SAMPLE_DATA, Config, load_config
from .dates import format_week_cn, parse_week
from .errors import InputError, ParameterError
from .memory import release_memory
from .metrics import compute_metrics, latest_week, metrics_over_weeks, week_view
from .slugs import assign_slugs
from .store import code_fingerprint, input_fingerprint, load_prepared, save_prepared

COMMUNITY_NB = NOTEBOOKS / "community_report.ipynb"
DIGEST_NB = NOTEBOOKS / "subdistrict_digest.ipynb"
BATCH_SET = {"community", "week", "data_dir", "prepared_dir", "run_file", "digest_href", "config_file"}
TARGET_PARAMS = ("awareness", "support", "participation", "satisfaction", "garbage_sorting", "coverage")


# --- parameters ---------------------------------------------------------------------

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
        if name in ("overdue_days", "execution_timeout") and value is not None and value < 1:
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


# --- the plan -----------------------------------------------------------------------

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
    today: dt.date | None = None


@dataclass
class Plan:
    """The batch as data: cleaned inputs, the week, its metrics and the notebook tasks."""

    options: BatchOptions
    config: Config
    cleaned: Cleaned
    week: str
    week_chosen: bool
    metrics: pd.DataFrame
    slugs: dict
    prepared_dir: Path
    tasks: list
    selected: list
    targets: dict
    timings: dict


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
    config = load_config(data_dir, options.config_file)
    cache = Path(options.out_dir) / "internal" / ".cache" / "prepared"
    return config, cache / input_fingerprint(data_dir, options.config_file)


def load_and_clean(options: BatchOptions, use_cache: bool = True) -> tuple[Config, Cleaned]:
    """Return the configuration and the cleaned inputs (InputError/ConfigError on bad input)."""
    config, prepared = prepared_location(options)
    if use_cache and (prepared / "meta.json").is_file():
        return config, load_prepared(prepared)
    return config, clean_folder(Path(options.data_dir), config)


def choose_week(options: BatchOptions, cleaned: Cleaned) -> tuple[str, bool]:
    """Return (week, chosen automatically)."""
    if options.week:
        return parse_week(options.week), False
    found = latest_week(cleaned, options.today)
    if found is None:
        raise InputError("数据中没有不晚于今天的走访或问卷记录，无法确定报告周", file=str(options.data_dir),
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
    metrics = compute_metrics(cleaned, week, targets, overdue)
    slugs = assign_slugs(list(cleaned.communities))
    if not (prepared / "meta.json").is_file():
        save_prepared(cleaned, prepared)
    code = code_fingerprint()
    nb_hash = _file_hash(COMMUNITY_NB)
    data_param = str(Path(options.data_dir).resolve())
    tasks = []
    for community in selected:
        slug = slugs[community]
        idx = cleaned.communities.index(community)
        params = {"community": community, "week": week, "data_dir": data_param, "prepared_dir": str(prepared.resolve()),
                  "digest_href": "../digest.html", **overrides}
        if options.config_file:
            params["config_file"] = str(Path(options.config_file).resolve())
        key_src = json.dumps({"slice": _hash_dir(prepared / f"c{idx:04d}"), "params": {k: v for k, v in params.items() if k != "prepared_dir"},
                              "notebook": nb_hash, "code": code, "week": week, "sample": _is_sample(options)},
                             ensure_ascii=False, sort_keys=True, default=str)
        tasks.append({
            "kind": "community", "community": community, "slug": slug, "week": week,
            "notebook": str(COMMUNITY_NB), "parameters": params,
            "timeout": overrides.get("execution_timeout") or 600, "warm": options.warm,
            "executed": str(out / "internal" / week / "notebooks" / f"{slug}.ipynb"),
            "html": str(out / week / "communities" / f"{slug}.html"),
            "followup": str(out / "internal" / week / "followup" / f"{slug}.xlsx"),
            "prepared_dir": str(prepared), "title": f"{community} 创城入户宣传周报 {format_week_cn(week)}",
            "key": hashlib.sha256(key_src.encode()).hexdigest()[:24],
        })
    return Plan(options, config, cleaned, week, chosen, metrics, slugs, prepared, tasks, selected,
                targets, {"plan": round(time.perf_counter() - t0, 3)})


def _is_sample(options: BatchOptions) -> bool:
    try:
        return Path(options.data_dir).resolve() == SAMPLE_DATA.resolve()
    except OSError:
        return False


# --- outputs ------------------------------------------------------------------------

def rejects_table(cleaned: Cleaned, week: str) -> pd.DataFrame:
    """Return W's rejects as rejects.csv lays them out (sorted by file and row)."""
    view = week_view(cleaned, week)
    r = view.rejects.copy()
    if "说明" not in r or r["说明"].isna().any():
        from .schema import reason_text
        r["说明"] = r["reason"].map(reason_text)
    r["row"] = r["row"].astype("int64")
    r = r.sort_values(["file", "row"], kind="stable")
    return r[["file", "row", "community", "field", "reason", "说明", "raw"]].fillna("")


def write_rejects(cleaned: Cleaned, week: str, path: Path) -> int:
    """Write internal/W/rejects.csv (UTF-8 with BOM); return its row count."""
    table = rejects_table(cleaned, week)
    write_bytes(path, ("\ufeff" + table.to_csv(index=False, lineterminator="\n")).encode("utf-8"))
    return len(table)


def _previous_manifest(manifest: Path) -> dict:
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _previous_outcomes(manifest: Path) -> dict:
    return _previous_manifest(manifest).get("communities", {})


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "canvass": __version__}
    for pkg in ("pandas", "pyarrow", "papermill", "nbclient", "nbconvert", "matplotlib", "openpyxl",
                "python-calamine", "ipykernel"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def remove_stale_temp_files(out: Path) -> None:
    """Remove temporary files a killed batch left behind (we hold the lock: none are in use)."""
    for pattern in (".*.tmp", ".*.ipynb", ".*.xlsx", ".*.html", ".*.csv", ".*.json"):
        for p in out.rglob(pattern):
            if p.is_file() and p.name.startswith(".") and p.name != ".gitkeep" and not p.name.startswith(".canvass"):
                p.unlink(missing_ok=True)


@dataclass
class BatchResult:
    """What the batch did: per-community outcomes and where things are."""

    week: str
    week_chosen: bool
    out_dir: Path
    digest: Path
    outcomes: dict
    exit_code: int
    timings: dict


def run_batch(options: BatchOptions, progress=None) -> BatchResult:
    """Run the whole weekly batch; ``progress(community, outcome)`` is called as each finishes."""
    from .executors import make_executor
    from .export import write_index, write_metrics_csv, write_metrics_xlsx
    from .tasks import run_notebook_task

    t_start = time.perf_counter()
    out = Path(options.out_dir)
    timings: dict = {}
    with OutputLock(out, wait=options.lock_wait):
        executor = None

        def workers():
            nonlocal executor
            if executor is None:
                executor = make_executor(options.executor, max(1, options.jobs), scheduler=options.scheduler)
            return executor

        ok = False
        try:
            config, prepared = prepared_location(options)
            if not (prepared / "meta.json").is_file():
                workers()  # start (and warm) the kernels while this process cleans the inputs
            cached = (prepared / "meta.json").is_file()
            cleaned = load_prepared(prepared) if cached else clean_folder(Path(options.data_dir), config)
            timings["clean"] = round(time.perf_counter() - t_start, 3)
            timings["clean_cached"] = cached
            week, chosen = choose_week(options, cleaned)
            plan = plan_batch(options, config, cleaned, week, chosen, prepared)
            timings.update(plan.timings)
            wdir, idir = out / week, out / "internal" / week
            manifest_path = wdir / "manifest.json"
            remove_stale_temp_files(out)
            previous = _previous_outcomes(manifest_path)

            t = time.perf_counter()
            write_metrics_csv(plan.metrics, wdir / "metrics.csv")
            history = metrics_over_weeks(cleaned, week, plan.targets)
            write_metrics_xlsx(plan.metrics, history, wdir / "metrics.xlsx")
            n_rejects = write_rejects(cleaned, week, idir / "rejects.csv")
            timings["tables"] = round(time.perf_counter() - t, 3)
            # The notebooks read their own slices: free the cleaned tables before they run.
            communities, files = list(cleaned.communities), list(cleaned.files)
            plan.cleaned = None
            del cleaned, history
            release_memory()

            outcomes: dict = {}
            to_run = []
            for task in plan.tasks:
                prev = previous.get(task["community"], {})
                if (not options.force and prev.get("key") == task["key"] and prev.get("status") in ("ok", "reused")
                        and Path(task["html"]).is_file() and Path(task["executed"]).is_file()
                        and Path(task["followup"]).is_file()):
                    outcomes[task["community"]] = {**prev, "status": "reused", "seconds": 0.0}
                    if progress:
                        progress(task["community"], outcomes[task["community"]])
                else:
                    to_run.append(task)
            t = time.perf_counter()
            if to_run:
                for index, res in workers().run(run_notebook_task, to_run):
                    task = to_run[index]
                    outcomes[task["community"]] = {**res, "key": task["key"]}
                    if progress:
                        progress(task["community"], outcomes[task["community"]])
            timings["communities"] = round(time.perf_counter() - t, 3)

            # Communities not selected this time keep their previous outcome.
            for c in communities:
                if c not in outcomes:
                    prev = previous.get(c)
                    outcomes[c] = {**prev, "status": prev.get("status", "not run")} if prev else {"status": "not run", "error": ""}
            outcomes = {c: outcomes[c] for c in communities}
            links = {c: f"communities/{plan.slugs[c]}.html" for c in communities
                     if outcomes[c].get("status") in ("ok", "reused") and (wdir / "communities" / f"{plan.slugs[c]}.html").is_file()}
            run_file = idir / "run.json"
            write_json(run_file, {"outcomes": outcomes, "links": links})

            t = time.perf_counter()
            digest_task = {
                "kind": "digest", "community": None, "week": week, "notebook": str(DIGEST_NB),
                "parameters": {"week": week, "data_dir": str(Path(options.data_dir).resolve()),
                               "prepared_dir": str(plan.prepared_dir.resolve()), "run_file": str(run_file.resolve()),
                               **{k: v for k, v in options.params.items() if k != "fail_for_test"},
                               **({"config_file": str(Path(options.config_file).resolve())} if options.config_file else {})},
                "timeout": options.params.get("execution_timeout") or 600, "warm": options.warm,
                "executed": str(idir / "notebooks" / "digest.ipynb"), "html": str(wdir / "digest.html"),
                "title": f"{config.name} 创城入户宣传周报 {format_week_cn(week)}",
            }
            digest_key = hashlib.sha256(json.dumps(
                {"prepared": plan.prepared_dir.name,
                 "outcomes": {c: [o.get("status") in ("ok", "reused"), o.get("error"), o.get("key")]
                              for c, o in outcomes.items()},
                 "params": digest_task["parameters"] | {"prepared_dir": "", "run_file": ""}, "notebook": _file_hash(DIGEST_NB),
                 "code": code_fingerprint(), "links": links}, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:24]
            prev_digest = _previous_manifest(manifest_path).get("digest", {})
            if (not options.force and prev_digest.get("key") == digest_key and prev_digest.get("status") in ("ok", "reused")
                    and Path(digest_task["html"]).is_file()):
                digest_outcome = {**prev_digest, "status": "reused", "seconds": 0.0}
            else:
                digest_outcome = {**next(iter(workers().run(run_notebook_task, [digest_task])))[1], "key": digest_key}
            timings["digest"] = round(time.perf_counter() - t, 3)
            write_index(out, config.name)

            timings["total"] = round(time.perf_counter() - t_start, 3)
            manifest = {
                "week": week, "week_dates": format_week_cn(week), "week_chosen_automatically": chosen,
                "subdistrict": config.name, "data_dir": str(Path(options.data_dir).resolve()),
                "config_file": config.source,
                "inputs": [{"path": f.file, "kind": f.kind, "sha256": f.sha256, "rows": f.data_rows,
                            "blank_rows": f.blank_rows, "header_row": f.header_row,
                            "ignored_columns": f.ignored_columns} for f in files],
                "parameters": {"targets": plan.targets, "overrides": options.params,
                               "overdue_days": options.params.get("overdue_days") or config.overdue_days,
                               "communities_selected": plan.selected, "force": options.force,
                               "jobs": options.jobs, "executor": options.executor},
                "versions": _versions(), "code_fingerprint": code_fingerprint(),
                "timings": timings, "slugs": plan.slugs, "rejected_rows": n_rejects,
                "communities": {c: {k: v for k, v in o.items() if k != "traceback"} for c, o in outcomes.items()},
                "digest": {k: v for k, v in digest_outcome.items() if k != "traceback"},
            }
            write_json(manifest_path, manifest)
            ok = True
        finally:
            if executor is not None:
                executor.close(abort=not ok)
    failed = [c for c, o in outcomes.items() if o.get("status") == "failed"]
    code = 1 if failed or digest_outcome.get("status") not in ("ok", "reused") else 0
    return BatchResult(week, chosen, out, wdir / "digest.html", outcomes, code, timings)
