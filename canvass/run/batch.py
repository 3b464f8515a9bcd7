"""The weekly batch, declared as data then executed.

``plan_batch`` reads and cleans the inputs once, computes every community's metrics and
lists the notebook tasks (community, week, parameters, output paths, a reuse key);
``run_batch`` executes them on an executor, renders the digest, and writes every output
of the data contract atomically under one lock.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from canvass import __version__
from canvass.errors import CanvassWarning, OutputError
from canvass.ingest.check import file_warnings
from canvass.ingest.clean import Cleaned, clean_folder
from canvass.memory import release_memory
from canvass.metrics import week_view
from canvass.run.atomic import OutputLock, write_bytes, write_json
from canvass.run.plan import (
    DIGEST_NB,
    BatchOptions,
    _file_hash,
    _is_sample,
    choose_week,
    plan_batch,
    prepared_location,
)
from canvass.run.store import (
    code_fingerprint,
    files_intact,
    load_cached,
    output_fingerprint,
)
from canvass.run.tasks import NotebookTask, Outcome
from canvass.weeks import format_week_cn

# --- parameters ---------------------------------------------------------------------









# --- the plan -----------------------------------------------------------------------



















# --- outputs ------------------------------------------------------------------------

def rejects_table(cleaned: Cleaned, week: str) -> pd.DataFrame:
    """Return W's rejects as rejects.csv lays them out (sorted by file and row)."""
    view = week_view(cleaned, week)
    r = view.rejects.copy()
    if "说明" not in r or r["说明"].isna().any():
        from canvass.vocab import reason_text
        r["说明"] = r["reason"].map(reason_text)
    r["row"] = r["row"].astype("int64")
    r = r.sort_values(["file", "row"], kind="stable")
    return r[["file", "row", "community", "field", "reason", "说明", "raw"]].fillna("")


def write_rejects(cleaned: Cleaned, week: str, path: Path, fix_dir: Path | None = None,
                  slugs: dict | None = None, failed: dict | None = None) -> int:
    """Write internal/W/rejects.csv (UTF-8 with BOM) and, with ``fix_dir``, each community's
    to-fix workbook (internal/W/fix/<slug>.xlsx); return the rejects' row count.

    rejects.csv is shared: a failed write ends the run. A to-fix workbook is one community's:
    with ``failed`` (community → message) its failed write fails that community alone."""
    table = rejects_table(cleaned, week)
    write_bytes(path, ("\ufeff" + table.to_csv(index=False, lineterminator="\n")).encode("utf-8"))
    if fix_dir is not None:
        from canvass.report.fixlist import write_fixlist
        from canvass.report.staff_lists import own_file

        kinds = {r.file: r.kind for r in cleaned.files}
        fix = table.assign(kind=table["file"].map(kinds))
        for community, slug in (slugs or {}).items():
            with own_file(community, failed):
                write_fixlist(fix, community, week, fix_dir / f"{slug}.xlsx")
    return len(table)


def write_staff_lists(plan, idir: Path, failed: dict | None = None) -> dict:
    """Write the staff workbooks of sections 10–11 and the issues worklist; return rows per file kind.

    flags.csv and collectors.xlsx are shared (a failed write ends the run); the per-community
    workbooks (backcheck/, issues/, shops/, responsible/) fail only their community into ``failed``."""
    from canvass.report import staff_lists as sl

    cleaned, week, slugs = plan.cleaned, plan.week, plan.slugs
    overdue = plan.options.params.get("overdue_days") or plan.config.overdue_days
    out = {"flags": sl.write_flags(cleaned, week, idir / "flags.csv"),
           "backcheck": sl.write_backchecks(cleaned, week, idir / "backcheck", slugs, failed),
           "collectors": sl.write_collectors(cleaned, week, idir / "collectors.xlsx"),
           "issues": sl.write_issue_lists(cleaned, week, idir / "issues", slugs, overdue, failed)}
    if cleaned.shops is not None:
        out["shops"] = sl.write_shop_lists(cleaned, week, idir / "shops", slugs, failed)
    if (cleaned.households["responsible"].astype(str) != "").any() if "responsible" in cleaned.households else False:
        out["responsible"] = sl.write_responsible(cleaned, week, idir / "responsible", slugs, failed)
    return out


def write_images(plan, wdir: Path, failed: dict | None = None) -> None:
    """Write the WeChat long images: digest.png (shared) and communities/<slug>.png (aggregates only).

    A community's image that cannot be written fails that community alone into ``failed``."""
    from canvass.report import narrative, views, wechat
    from canvass.report.staff_lists import own_file
    from canvass.weeks import week_bounds

    sunday = week_bounds(plan.week)[1]
    footer = f"数据截至 {sunday.year}年{sunday.month}月{sunday.day}日（周日） · 完整报告见 digest.html"
    banner = "示例数据：由项目自带的模拟数据生成，不代表真实情况。" if _is_sample(plan.options) else ""
    kw = {"banner": banner, "assessment": plan.config.assessment_date, "footer": footer}
    # the same three parts as the digest's HTML (report/narrative.py), from the same numbers
    grids = views.grid_pace(plan.cleaned, plan.week, str(plan.history["week"].min()))
    parts = narrative.week_summary(plan.metrics, grids).as_dict()
    wechat.render(wechat.digest_image(plan.metrics, plan.config.name, plan.week, parts=parts, **kw),
                  wdir / "digest.png")
    for community in plan.selected:
        mine = plan.metrics[plan.metrics["community"] == community]
        alone = pd.concat([mine, mine.assign(scope="subdistrict")], ignore_index=True)  # the community as its own total
        parts = narrative.week_summary(alone, grids[grids["community"] == community] if len(grids) else grids).as_dict()
        image = wechat.community_image(plan.metrics, community, plan.config.name, plan.week, parts=parts, **kw)
        with own_file(community, failed):
            wechat.render(image, wdir / "communities" / f"{plan.slugs[community]}.png")


def _read_manifest(manifest: Path) -> tuple[dict, bool]:
    """Return (the previous run's manifest, whether it was damaged); a damaged one is {}."""
    try:
        found = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, False
    except (OSError, ValueError):
        return {}, True
    if not (isinstance(found, dict) and isinstance(found.get("communities", {}), dict)
            and all(isinstance(o, dict) for o in found.get("communities", {}).values())
            and isinstance(found.get("digest", {}), dict)):
        return {}, True
    return found, False


def _previous_manifest(manifest: Path) -> dict:
    return _read_manifest(manifest)[0]


def _previous_outcomes(manifest: Path) -> dict:
    """Return each community's previous outcome; a damaged manifest means nothing is reused."""
    found, damaged = _read_manifest(manifest)
    if damaged:
        warnings.warn(CanvassWarning(f"上次的记录已损坏，本次全部重新生成：{manifest}"), stacklevel=2)
    return found.get("communities", {})


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
    for pattern in (".*.tmp", ".*.ipynb", ".*.xlsx", ".*.html", ".*.csv", ".*.json", ".*.parquet"):
        for p in out.rglob(pattern):
            if p.is_file() and p.name.startswith(".") and p.name != ".gitkeep" and not p.name.startswith(".canvass"):
                p.unlink(missing_ok=True)


@dataclass
class BatchResult:
    """What the batch did: per-community outcomes and where things are (all the CLI prints)."""

    week: str
    week_chosen: bool
    out_dir: Path
    digest: Path
    outcomes: dict  # community → tasks.Outcome
    exit_code: int
    timings: dict
    slugs: dict = field(default_factory=dict)
    rejected_rows: dict = field(default_factory=dict)  # community → W's rejected rows (metrics.csv)

    def report(self, community: str) -> Path:
        """Return where a community's report is (it may not exist when the community failed)."""
        return self.out_dir / self.week / "communities" / f"{self.slugs[community]}.html"


TABLES_RECORD = "tables.json"  # internal/W/: the key and checksums of what write_tables wrote
TABLE_FOLDERS = ("fix", "backcheck", "issues", "shops", "responsible")


def tables_key(plan) -> str:
    """Return the reuse key of write_tables' files: equal keys mean equal files.

    The prepared folder's name already hashes every input, the configuration and the code;
    the week's metrics history, the parameters, the selection, the sample banner and what
    shapes rendering (fonts, templates, library versions) complete it. A week not over yet
    depends on today too (its "data until" date).
    """
    import datetime as dt

    from canvass.weeks import week_bounds

    src = {"prepared": plan.prepared_dir.name, "week": plan.week, "params": plan.options.params,
           "targets": plan.targets, "selected": plan.selected, "slugs": plan.slugs,
           "sample": _is_sample(plan.options), "code": output_fingerprint(),
           "history": hashlib.sha256(plan.history.to_csv(index=False).encode()).hexdigest(),
           "today": str(dt.date.today()) if week_bounds(plan.week)[1] >= dt.date.today() else ""}
    return hashlib.sha256(json.dumps(src, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _table_files(plan, wdir: Path, idir: Path) -> dict:
    """Return every file write_tables writes (name → path), the history excepted."""
    files = {"metrics.csv": wdir / "metrics.csv", "metrics.xlsx": wdir / "metrics.xlsx",
             "digest.png": wdir / "digest.png", "rejects.csv": idir / "rejects.csv",
             "flags.csv": idir / "flags.csv", "collectors.xlsx": idir / "collectors.xlsx"}
    files.update({f"communities/{plan.slugs[c]}.png": wdir / "communities" / f"{plan.slugs[c]}.png"
                  for c in plan.selected})
    for folder in TABLE_FOLDERS:
        if (idir / folder).is_dir():
            files.update({f"{folder}/{p.name}": p for p in sorted((idir / folder).iterdir()) if p.is_file()})
    return files


def reused_tables(plan, wdir: Path, idir: Path) -> tuple[int, dict] | None:
    """Return (rejects, staff rows) recorded by an earlier write_tables of the same key whose files
    are intact, else None (then they are written again)."""
    if plan.options.force:
        return None
    try:
        found = json.loads((idir / TABLES_RECORD).read_text(encoding="utf-8"))
        if found.get("key") != tables_key(plan) or set(found["outputs"]) != set(_table_files(plan, wdir, idir)):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not files_intact(found["outputs"], _table_files(plan, wdir, idir)):
        return None
    return found["rejected_rows"], found["staff_lists"]


def write_tables(plan, wdir: Path, idir: Path, timings: dict, failed: dict | None = None) -> tuple[int, dict]:
    """Write metrics.csv/.xlsx, rejects and fix lists, staff lists and images; return (rejects, staff rows).

    They are reused, like the notebooks, when an earlier run with the same key left them
    intact (internal/W/tables.json records the key and the files' checksums). The metrics
    history is not among them: plan_batch saves it, before the notebooks that read it run.

    A failed write of a shared file ends the run; of one community's own file (to-fix, staff
    workbooks, its WeChat image) it is recorded in ``failed`` (community → message) and the
    others go on: ``run_communities`` then fails that community, and no reuse record is
    written (the next run writes every file again).
    """
    from canvass.report.tables import write_metrics_csv, write_metrics_xlsx
    from canvass.run.atomic import write_json
    from canvass.run.store import file_checksums

    t = time.perf_counter()
    found = reused_tables(plan, wdir, idir)
    if found is not None:
        timings["tables"] = timings["images"] = 0.0
        timings["tables_reused"] = True
        return found
    write_metrics_csv(plan.metrics, wdir / "metrics.csv")
    write_metrics_xlsx(plan.metrics, plan.history, wdir / "metrics.xlsx")
    n_rejects = write_rejects(plan.cleaned, plan.week, idir / "rejects.csv", idir / "fix", plan.slugs, failed)
    staff_lists = write_staff_lists(plan, idir, failed)
    timings["tables"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    write_images(plan, wdir, failed)
    timings["images"] = round(time.perf_counter() - t, 3)
    if failed:  # a community's file is missing or stale: nothing may be reused from this run
        (idir / TABLES_RECORD).unlink(missing_ok=True)
    else:
        write_json(idir / TABLES_RECORD, {"key": tables_key(plan), "rejected_rows": n_rejects,
                                          "staff_lists": staff_lists,
                                          "outputs": file_checksums(_table_files(plan, wdir, idir))})
    return n_rejects, staff_lists


def run_communities(plan, previous: dict, workers, progress, communities: list,
                    failed: dict | None = None) -> dict[str, Outcome]:
    """Run (or reuse) every selected community's notebook; return community → outcome, in display order.

    A community in ``failed`` (one of its own files could not be written, see ``write_tables``)
    is failed with that message and its notebook is not run: its previous report stays as it
    was, beside its previous files, and the next run renders it again.
    """
    from canvass.run.executors import run_notebooks
    from canvass.run.tasks import task_outputs

    options = plan.options
    failed = failed or {}
    outcomes: dict = {}
    for community in (c for c in communities if c in failed):
        outcomes[community] = {"status": "failed", "error": failed[community], "output_error": failed[community],
                               "seconds": 0.0}
        if progress:
            progress(community, outcomes[community])
    to_run = []
    for task in plan.tasks:
        prev = previous.get(task["community"], {})
        if task["community"] in failed:
            outcomes[task["community"]]["key"] = task["key"]
        elif (not options.force and prev.get("key") == task["key"] and prev.get("status") in ("ok", "reused")
                and files_intact(prev.get("outputs"), task_outputs(task))):
            outcomes[task["community"]] = {**prev, "status": "reused", "seconds": 0.0}
            if progress:
                progress(task["community"], outcomes[task["community"]])
        else:
            to_run.append(task)
    if to_run:
        for index, res in run_notebooks(workers(), to_run):
            task = to_run[index]
            outcomes[task["community"]] = {**res, "key": task["key"]}
            if progress:
                progress(task["community"], outcomes[task["community"]])
    # Communities not selected this time keep their previous outcome.
    for c in communities:
        if c not in outcomes:
            prev = previous.get(c)
            outcomes[c] = {**prev, "status": prev.get("status", "not run")} if prev else {"status": "not run", "error": ""}
    return {c: outcomes[c] for c in communities}


def digest_task(plan, run_file: Path, idir: Path, wdir: Path) -> NotebookTask:
    """Return the digest notebook's task."""
    options, config, week = plan.options, plan.config, plan.week
    return {
        "kind": "digest", "community": None, "week": week, "notebook": str(DIGEST_NB),
        "parameters": {"week": week, "data_dir": str(Path(options.data_dir).resolve()),
                       "prepared_dir": str(plan.prepared_dir.resolve()), "run_file": str(run_file.resolve()),
                       "metrics_file": str(plan.history_file.resolve()),
                       **options.params,
                       **({"config_file": str(Path(options.config_file).resolve())} if options.config_file else {})},
        "timeout": options.timeout, "warm": options.warm,
        "executed": str(idir / "notebooks" / "digest.ipynb"), "html": str(wdir / "digest.html"),
        "title": f"{config.name} 创城入户宣传周报 {format_week_cn(week)}",
    }


def run_digest(plan, outcomes: dict, links: dict, task: NotebookTask, manifest_path: Path, workers) -> Outcome:
    """Run (or reuse) the digest notebook; return its outcome. A failed write of it ends the run."""
    from canvass.run.executors import run_notebooks
    from canvass.run.tasks import task_outputs

    key = hashlib.sha256(json.dumps(
        {"prepared": plan.prepared_dir.name,
         "outcomes": {c: [o.get("status") in ("ok", "reused"), o.get("error"), o.get("key")] for c, o in outcomes.items()},
         "params": task["parameters"] | {"prepared_dir": "", "run_file": "", "metrics_file": ""},
         "notebook": _file_hash(DIGEST_NB), "code": output_fingerprint(), "links": links,
         **({"district_href": plan.options.district_href} if plan.options.district_href else {})},
        ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:24]
    prev = _previous_manifest(manifest_path).get("digest", {})
    if (not plan.options.force and prev.get("key") == key and prev.get("status") in ("ok", "reused")
            and files_intact(prev.get("outputs"), task_outputs(task))):
        outcome = {**prev, "status": "reused", "seconds": 0.0}
    else:
        outcome = {**next(iter(run_notebooks(workers(), [task])))[1], "key": key}
    if outcome.get("output_error"):  # a shared output: the run ends, as for metrics.csv
        raise OutputError(outcome["output_error"])
    return outcome


def build_manifest(plan, files: list, outcomes: dict, digest_outcome: dict, n_rejects: int, staff_lists: dict,
                   timings: dict) -> dict:
    """Return manifest.json: inputs and how each was read, parameters, versions, timings, outcomes."""
    options, config, week = plan.options, plan.config, plan.week
    return {
        "week": week, "week_dates": format_week_cn(week), "week_chosen_automatically": plan.week_chosen,
        "subdistrict": config.name, "data_dir": str(Path(options.data_dir).resolve()),
        "config_file": config.source,
        "inputs": [{"path": f.file, "kind": f.kind, "sha256": f.sha256, "rows": f.data_rows,
                    "blank_rows": f.blank_rows, "header_row": f.header_row,
                    "ignored_columns": f.ignored_columns, "columns": f.columns,
                    "community": f.community, "community_source": f.community_source,
                    "candidates_left_out": f.notes, "metric_columns": f.readings,
                    "unassigned_grid_rows": f.unassigned_grid, "duplicate_download_of": f.duplicate_of,
                    "rejected_rows": f.rejected_rows} for f in files],
        "warnings": [w.to_json() for w in file_warnings(files)],
        "parameters": {"targets": plan.targets, "overrides": options.params,
                       "overdue_days": options.params.get("overdue_days") or config.overdue_days,
                       "communities_selected": plan.selected, "force": options.force,
                       "jobs": options.jobs, "executor": options.executor, "timeout": options.timeout},
        "versions": _versions(), "code_fingerprint": code_fingerprint(),
        "timings": timings, "slugs": plan.slugs, "rejected_rows": n_rejects, "staff_lists": staff_lists,
        "communities": {c: {k: v for k, v in o.items() if k != "traceback"} for c, o in outcomes.items()},
        "digest": {k: v for k, v in digest_outcome.items() if k != "traceback"},
    }


def run_batch(options: BatchOptions, progress=None):
    """Run the whole weekly batch; ``progress(community, outcome)`` is called as each finishes.

    clean (or load the cache) → plan → tables and images → community notebooks → digest → index
    → manifest, under one lock; every file is written atomically. A district folder
    (canvass/district.py) runs each of its sub-districts so, and returns a DistrictResult.
    """
    from canvass.district import is_district

    if is_district(Path(options.data_dir)):
        from canvass.run.district import run_district

        return run_district(options, progress)
    from canvass.run.executors import started_on_use

    with OutputLock(Path(options.out_dir), wait=options.lock_wait), started_on_use(options) as workers:
        return run_subdistrict(options, workers, progress)


@dataclass
class SubdistrictWork:
    """A sub-district prepared for its notebooks: the plan (cleaned tables already freed) and its paths."""

    plan: object
    communities: list
    files: list
    previous: dict
    manifest_path: Path
    wdir: Path
    idir: Path
    n_rejects: int
    staff_lists: dict
    timings: dict
    t_start: float
    failed: dict = field(default_factory=dict)  # community → why one of its own files could not be written


def prepare_subdistrict(options: BatchOptions, workers, start_workers: bool = True) -> SubdistrictWork:
    """Clean (or load), plan, and write the tables and images of one sub-district: all but its notebooks.

    Runs in the batch process only (the executor is at most started), so a district can
    prepare the next sub-district while the workers run this one's notebooks.
    """
    from canvass.run.plan import internal_root, read_cache_for

    t_start = time.perf_counter()
    out = Path(options.out_dir)
    internal = internal_root(options)
    timings: dict = {}
    config, prepared = prepared_location(options)
    cleaned = load_cached(prepared)  # None when missing or damaged (then discarded)
    cached = cleaned is not None
    if not cached:
        if start_workers:
            workers()  # start (and warm) the kernels while this process cleans the inputs
        cleaned = clean_folder(Path(options.data_dir), config, read_cache_for(options))
    timings["clean"] = round(time.perf_counter() - t_start, 3)
    timings["clean_cached"] = cached
    week, chosen = choose_week(options, cleaned)
    plan = plan_batch(options, config, cleaned, week, chosen, prepared)
    timings.update(plan.timings)
    wdir, idir = out / week, internal / week
    manifest_path = wdir / "manifest.json"
    remove_stale_temp_files(out)
    if not internal.is_relative_to(out):
        remove_stale_temp_files(internal)
    previous = _previous_outcomes(manifest_path)
    failed: dict = {}  # community → why one of its own files could not be written
    n_rejects, staff_lists = write_tables(plan, wdir, idir, timings, failed)
    # The notebooks read their own slices: free the cleaned tables before they run.
    communities, files = list(cleaned.communities), list(cleaned.files)
    plan.cleaned = None
    del cleaned
    release_memory()
    return SubdistrictWork(plan, communities, files, previous, manifest_path, wdir, idir, n_rejects, staff_lists,
                           timings, t_start, failed)


def finish_subdistrict(work: SubdistrictWork, workers, progress=None) -> BatchResult:
    """Run (or reuse) a prepared sub-district's community notebooks and digest; write its index and manifest."""
    from canvass.report.pages import write_index

    plan, timings, wdir, idir = work.plan, work.timings, work.wdir, work.idir
    communities = work.communities
    t = time.perf_counter()
    outcomes = run_communities(plan, work.previous, workers, progress, communities, work.failed)
    timings["communities"] = round(time.perf_counter() - t, 3)
    links = {c: f"communities/{plan.slugs[c]}.html" for c in communities
             if outcomes[c].get("status") in ("ok", "reused") and (wdir / "communities" / f"{plan.slugs[c]}.html").is_file()}
    run_file = idir / "run.json"
    write_json(run_file, {"outcomes": outcomes, "links": links, "district_href": plan.options.district_href})

    t = time.perf_counter()
    digest_outcome = run_digest(plan, outcomes, links, digest_task(plan, run_file, idir, wdir), work.manifest_path,
                                workers)
    timings["digest"] = round(time.perf_counter() - t, 3)
    out = Path(plan.options.out_dir)
    write_index(out, plan.config.name)
    timings["total"] = round(time.perf_counter() - work.t_start, 3)
    write_json(work.manifest_path, build_manifest(plan, work.files, outcomes, digest_outcome, work.n_rejects,
                                                  work.staff_lists, timings))
    failed = [c for c, o in outcomes.items() if o.get("status") == "failed"]
    code = 1 if failed or digest_outcome.get("status") not in ("ok", "reused") else 0
    rejected = dict(zip(plan.metrics["community"], plan.metrics["rejected_rows"].astype(int)))
    return BatchResult(plan.week, plan.week_chosen, out, wdir / "digest.html", outcomes, code, timings, plan.slugs,
                       rejected)


def run_subdistrict(options: BatchOptions, workers, progress=None) -> BatchResult:
    """Run one sub-district's batch with the caller's lock and executor (``workers()`` returns it)."""
    return finish_subdistrict(prepare_subdistrict(options, workers), workers, progress)
