"""The weekly batch, declared as data then executed.

``plan_batch`` reads and cleans the inputs once, computes every community's metrics and
lists the notebook tasks (community, week, parameters, output paths, a reuse key);
``run_batch`` executes them on an executor, renders the digest, and writes every output
of the data contract atomically under one lock.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from canvass import __version__
from canvass.errors import CanvassWarning, OutputError
from canvass.ingest.check import file_warnings, folder_warnings
from canvass.ingest.clean import Cleaned, clean_folder
from canvass.memory import release_memory
from canvass.metrics import week_view
from canvass.privacy import shareable_path
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
    prune_prepared,
)
from canvass.run.tasks import NotebookTask, Outcome
from canvass.weeks import format_week_cn


# --- outputs ------------------------------------------------------------------------

def rejects_table(cleaned: Cleaned, week: str) -> pd.DataFrame:
    """Return W's rejects as rejects.csv lays them out (sorted by file and row)."""
    view = week_view(cleaned, week)
    r = view.rejects.copy()
    if "说明" not in r or r["说明"].isna().any():  # the returns superseded as of W come without it
        from canvass.vocab import reason_text
        kinds = r["kind"] if "kind" in r else pd.Series(None, index=r.index)
        wording = [reason_text(x, k) for x, k in zip(r["reason"], kinds)]
        r["说明"] = r["说明"].where(r["说明"].notna(), wording) if "说明" in r else wording
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
        from canvass.report.fixlist import fix_table, write_fixlist
        from canvass.report.staff_lists import own_file

        fix = fix_table(table, cleaned.files)
        for community, slug in (slugs or {}).items():
            with own_file(community, failed):
                write_fixlist(fix, community, week, fix_dir / f"{slug}.xlsx")
    return len(table)


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


def _notebooks_expected(options: BatchOptions, cleaned, manifest_path: Path) -> bool:
    """Whether this run will likely run notebooks although its cleaned tables came from the cache.

    The same inputs (by checksum), parameters and code as the week's last run mean every report
    is reused: the executor is then started only if a task turns out to need it. Otherwise
    (a file put back as it was, another -p, --force, another week) starting it now hides the
    kernels' start-up behind planning: 4.6 s -> about 3.8 s for one changed community of 20.
    A wrong guess only costs time either way.
    """
    if options.force:
        return True
    previous = _previous_manifest(manifest_path)
    if not previous:
        return True
    inputs = sorted((i.get("path"), i.get("sha256")) for i in previous.get("inputs", []) if isinstance(i, dict))
    params = previous.get("parameters", {}) if isinstance(previous.get("parameters"), dict) else {}
    return (inputs != sorted((f.file, f.sha256) for f in cleaned.files)
            or params.get("overrides") != json.loads(json.dumps(options.params, default=str))
            or previous.get("code_fingerprint") != code_fingerprint())


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
    warnings: int = 0  # what --check would list (manifest.json "warnings")

    def report(self, community: str) -> Path:
        """Return where a community's report is (it may not exist when the community failed)."""
        return self.out_dir / self.week / "communities" / f"{self.slugs[community]}.html"


def run_communities(plan, previous: dict, workers, progress, communities: list, files=None,
                    tail=None) -> dict[str, Outcome]:
    """Run (or reuse) every selected community's notebook; return community → outcome, in display order.

    ``files`` (a ``TableFiles``): each community's own files are written just before its
    notebook is handed to a worker, by a generator the executor draws from while the workers
    render the communities before it. A community whose own file cannot be written is failed
    with that message and its notebook is not run: its previous report stays as it was,
    beside its previous files, and the next run renders it again.

    ``tail`` (a ``SpeculativeDigest``): right after the first community's task is handed out, it
    may hand out one more (the digest, run on what the outcomes are expected to be) and receives
    its result.
    """
    import queue

    from canvass.run.executors import run_notebooks
    from canvass.run.tasks import task_outputs

    options = plan.options
    failed: dict = {}  # community → why one of its own files could not be written
    notices: queue.SimpleQueue = queue.SimpleQueue()  # outcomes decided while feeding, shown by this thread
    outcomes: dict = {}
    tasks = {t["community"]: t for t in plan.tasks}
    fed: list = []
    notices_seen: dict = {}  # what feed() decided without a notebook (failed, reused), for ``tail``

    def reused(community, task) -> dict | None:
        prev = previous.get(community, {})
        if (not options.force and prev.get("key") == task["key"] and prev.get("status") in ("ok", "reused")
                and files_intact(prev.get("outputs"), task_outputs(task))):
            return {**prev, "status": "reused", "seconds": 0.0}
        return None

    # Which notebooks will run, decided before any own file is written (the reuse checks read
    # only the previous outputs), so that the digest can be handed out with the first of them.
    to_reuse = {c: r for c in communities if c in tasks for r in (reused(c, tasks[c]),) if r is not None}
    to_run = [c for c in communities if c in tasks and c not in to_reuse]

    def feed():
        digest_out = tail is None or not to_run
        for community in communities:
            if files is not None:
                files.write_community(community, failed)
            task = tasks.get(community)
            if community in failed:
                notices_seen[community] = {"status": "failed", "error": failed[community],
                                           "output_error": failed[community], "seconds": 0.0,
                                           **({"key": task["key"]} if task else {})}
                notices.put((community, notices_seen[community]))
                continue
            if task is None:  # not selected this time
                continue
            if community in to_reuse:
                notices_seen[community] = to_reuse[community]
                notices.put((community, notices_seen[community]))
                continue
            fed.append(task)
            yield task
            if not digest_out:
                # The digest, the longest task, goes right after the first community (not last,
                # where one worker ran it alone while the other idled), on the outcomes expected
                # then: a community whose files or notebook fail later makes it run again at the end.
                digest_out = True
                last = tail.task(communities, {**to_reuse, **notices_seen}, to_run)
                if last is not None:
                    fed.append(last)
                    yield last
        if files is not None:
            files.write_digest_image()  # the digest's picture, while the workers render the last ones

    def show(community, outcome):
        outcomes[community] = outcome
        if progress:
            progress(community, outcome)

    def drain():
        while not notices.empty():
            show(*notices.get())

    tasks_fed = feed()
    first = next(tasks_fed, None)  # write own files up to the first notebook to run (or all of them)
    drain()
    if first is not None:
        for index, res in run_notebooks(workers(), itertools.chain([first], tasks_fed)):
            drain()
            if fed[index].get("kind") == "digest":
                tail.result = res
            else:
                show(fed[index]["community"], {**res, "key": fed[index]["key"]})
    drain()
    # Communities not selected this time keep their previous outcome.
    for c in communities:
        if c not in outcomes:
            outcomes[c] = kept_outcome(previous.get(c))
    return {c: outcomes[c] for c in communities}


def kept_outcome(prev: dict | None) -> Outcome:
    """Return the outcome of a community not selected this time: its previous one."""
    return {**prev, "status": prev.get("status", "not run")} if prev else {"status": "not run", "error": ""}


def report_links(plan, outcomes: dict, wdir: Path, coming: tuple = ()) -> dict:
    """Return community → its report's link, for those with a report (or one ``coming``)."""
    return {c: f"communities/{plan.slugs[c]}.html" for c, o in outcomes.items()
            if o.get("status") in ("ok", "reused")
            and (c in coming or (wdir / "communities" / f"{plan.slugs[c]}.html").is_file())}


def _shown_by_digest(outcomes: dict, links: dict) -> tuple:
    """What the digest shows of the run (its status and failures sections read no more)."""
    return {c: (o.get("status"), o.get("error", "")) for c, o in outcomes.items()}, links


class SpeculativeDigest:
    """The digest run beside the communities, on what their outcomes are expected to be.

    The digest reads the communities' outcomes (status and error) and links, so it would run
    after them with one worker idle. Right after the first community's notebook is handed out
    (the digest is the longest task: first, not last, so no worker idles at the end), this
    hands out the digest too, on ``run.json`` as it will be if every community whose notebook
    is to run succeeds, writing to temporary names. When they are all done: if the outcomes are as
    expected (they almost always are) its files are renamed into place; if not (a community
    failed), they are removed and the digest runs again on the real outcomes. Only on local
    workers (a Dask batch runs the digest locally after the cluster's work).
    """

    def __init__(self, plan, idir: Path, wdir: Path, manifest_path: Path, previous: dict, workers):
        self.plan, self.idir, self.wdir, self.manifest_path = plan, idir, wdir, manifest_path
        self.previous, self.workers = previous, workers
        self.expected: tuple | None = None
        self.spec_task: NotebookTask | None = None
        self.result: Outcome | None = None
        self.used = False  # its files became the digest's

    def task(self, communities: list, decided: dict, fed: list) -> NotebookTask | None:
        """Return the speculative digest task (None when the digest would be reused, or on Dask)."""
        if getattr(self.workers(), "run_notebooks", None) is not None:
            return None
        outcomes = {c: decided.get(c) or ({"status": "ok", "error": ""} if c in fed
                                          else kept_outcome(self.previous.get(c))) for c in communities}
        links = report_links(self.plan, outcomes, self.wdir, coming=tuple(fed))
        run_file = self.idir / "run.json"
        task = digest_task(self.plan, run_file, self.idir, self.wdir)
        if digest_reusable(self.plan, digest_key(self.plan, outcomes, links, task), task, self.manifest_path):
            return None
        try:
            write_json(run_file, {"outcomes": {c: {"status": o.get("status"), "error": o.get("error", "")}
                                               for c, o in outcomes.items()},
                                  "links": links, "district_href": self.plan.options.district_href})
        except OutputError:  # no speculation: the real run.json's write will say it and end the run
            return None
        self.expected = _shown_by_digest(outcomes, links)
        html, executed = Path(task["html"]), Path(task["executed"])
        self.spec_task = {**task, "html": str(html.with_name(f".{html.stem}.speculative.html")),
                          "executed": str(executed.with_name(f".{executed.stem}.speculative.ipynb")),
                          "recorded": {"parameters": task["parameters"], "notebook": task["notebook"],
                                       "output": task["executed"]}}
        return self.spec_task

    def outcome(self, outcomes: dict, links: dict, task: NotebookTask, key: str) -> Outcome | None:
        """Return the digest's outcome when the speculative run holds (its files moved into place), else None."""
        from canvass.run.atomic import publish
        from canvass.run.store import file_checksums
        from canvass.run.tasks import task_outputs

        if self.spec_task is None:
            return None
        spec = {role: Path(self.spec_task[role]) for role in ("html", "executed")}
        try:
            if (self.result is None or self.result.get("status") != "ok"
                    or _shown_by_digest(outcomes, links) != self.expected):
                return None
            for role in ("executed", "html"):
                publish(spec[role], Path(task[role]))  # a failed write ends the run, as for the digest
            self.used = True
            return {**self.result, "key": key, "outputs": file_checksums(task_outputs(task))}
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the speculative files that were not moved into place."""
        if self.spec_task is not None:
            for role in ("html", "executed"):
                Path(self.spec_task[role]).unlink(missing_ok=True)


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


def digest_key(plan, outcomes: dict, links: dict, task: NotebookTask) -> str:
    """Return the digest's reuse key: equal keys mean an equal digest."""
    return hashlib.sha256(json.dumps(
        {"prepared": plan.prepared_dir.name,
         "outcomes": {c: [o.get("status") in ("ok", "reused"), o.get("error"), o.get("key")] for c, o in outcomes.items()},
         "params": task["parameters"] | {"prepared_dir": "", "run_file": "", "metrics_file": ""},
         "notebook": _file_hash(DIGEST_NB), "code": output_fingerprint(), "links": links,
         **({"district_href": plan.options.district_href} if plan.options.district_href else {})},
        ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:24]


def digest_reusable(plan, key: str, task: NotebookTask, manifest_path: Path) -> Outcome | None:
    """Return the previous digest's outcome when the digest of ``key`` can be reused as it is, else None."""
    from canvass.run.tasks import task_outputs

    prev = _previous_manifest(manifest_path).get("digest", {})
    if (not plan.options.force and prev.get("key") == key and prev.get("status") in ("ok", "reused")
            and files_intact(prev.get("outputs"), task_outputs(task))):
        return {**prev, "status": "reused", "seconds": 0.0}
    return None


def run_digest(plan, outcomes: dict, links: dict, task: NotebookTask, manifest_path: Path, workers,
               speculative: SpeculativeDigest | None = None) -> Outcome:
    """Run (or reuse) the digest notebook; return its outcome. A failed write of it ends the run."""
    from canvass.run.executors import run_notebooks

    key = digest_key(plan, outcomes, links, task)
    outcome = digest_reusable(plan, key, task, manifest_path)
    if outcome is None and speculative is not None:
        outcome = speculative.outcome(outcomes, links, task, key)
    if outcome is None:
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
        # Forwarded with the reports: no absolute path (it can name the user, see shareable_path).
        "subdistrict": config.name, "data_dir": shareable_path(options.data_dir),
        "config_file": shareable_path(config.source, options.data_dir) if config.source else config.source,
        "inputs": [{"path": f.file, "kind": f.kind, "sha256": f.sha256, "rows": f.data_rows,
                    "blank_rows": f.blank_rows, "header_row": f.header_row,
                    "ignored_columns": f.ignored_columns, "columns": f.columns,
                    "community": f.community, "community_source": f.community_source,
                    "candidates_left_out": f.notes, "metric_columns": f.readings,
                    "unassigned_grid_rows": f.unassigned_grid, "duplicate_download_of": f.duplicate_of,
                    "rejected_rows": f.rejected_rows} for f in files],
        "warnings": [w.to_json() for w in folder_warnings(options.data_dir, config) + file_warnings(files)],
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
    from canvass.memory import freeze_imports

    freeze_imports()  # the parent's libraries are imported: full collections skip them from now on
    if is_district(Path(options.data_dir)):
        from canvass.run.district import run_district

        return run_district(options, progress)
    from canvass.run.executors import started_on_use

    with OutputLock(Path(options.out_dir), wait=options.lock_wait), started_on_use(options) as workers:
        return run_subdistrict(options, workers, progress)


@dataclass
class SubdistrictWork:
    """A sub-district prepared for its notebooks: the plan, its shared tables written, and its paths."""

    plan: object
    communities: list
    files: list
    previous: dict
    manifest_path: Path
    wdir: Path
    idir: Path
    tables: object  # community_files.TableFiles: each community's own files are still to write
    timings: dict
    t_start: float


def prepare_subdistrict(options: BatchOptions, workers, start_workers: bool = True) -> SubdistrictWork:
    """Clean (or load), plan, and write the shared tables of one sub-district: all but its communities.

    Runs in the batch process only (the executor is at most started), so a district can
    prepare the next sub-district while the workers run this one's notebooks.
    """
    from canvass.run.community_files import TableFiles
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
    wdir, idir = out / week, internal / week
    manifest_path = wdir / "manifest.json"
    if cached and start_workers and _notebooks_expected(options, cleaned, manifest_path):
        workers()  # inputs or parameters differ from last time: warm the kernels while this process plans
    plan = plan_batch(options, config, cleaned, week, chosen, prepared)
    timings.update(plan.timings)
    prune_prepared(prepared.parent, keep=(prepared.name,))  # other states of the inputs, unused for 14 days
    remove_stale_temp_files(out)
    if not internal.is_relative_to(out):
        remove_stale_temp_files(internal)
    previous = _previous_outcomes(manifest_path)
    t = time.perf_counter()
    tables = TableFiles(plan, wdir, idir, _is_sample(options))
    if tables.write_shared():  # a failed write ends the run here, before any report is replaced
        timings["tables_reused"] = True
    timings["tables"] = round(time.perf_counter() - t, 3)
    return SubdistrictWork(plan, list(cleaned.communities), list(cleaned.files), previous, manifest_path, wdir, idir,
                           tables, timings, t_start)


def finish_subdistrict(work: SubdistrictWork, workers, progress=None) -> BatchResult:
    """Write each community's own files and run (or reuse) its notebook, then the digest; write the
    index and manifest."""
    plan = work.plan
    speculative = SpeculativeDigest(plan, work.idir, work.wdir, work.manifest_path, work.previous, workers) \
        if plan.options.speculative_digest else None
    try:
        return _finish(work, workers, progress, speculative)
    finally:
        if speculative is not None:
            speculative.discard()


def _finish(work: SubdistrictWork, workers, progress, speculative) -> BatchResult:
    from canvass.report.pages import write_index

    plan, timings, wdir, idir = work.plan, work.timings, work.wdir, work.idir
    communities = work.communities
    t = time.perf_counter()
    outcomes = run_communities(plan, work.previous, workers, progress, communities, work.tables, speculative)
    timings["communities"] = round(time.perf_counter() - t, 3)
    timings["community_files"] = {"written": work.tables.written, "reused": work.tables.reused}
    work.tables.save_record()
    # The digest notebook reads the slices: free the cleaned tables before it runs.
    plan.cleaned = None
    release_memory()
    links = report_links(plan, outcomes, wdir)
    run_file = idir / "run.json"
    write_json(run_file, {"outcomes": outcomes, "links": links, "district_href": plan.options.district_href})

    t = time.perf_counter()
    digest_outcome = run_digest(plan, outcomes, links, digest_task(plan, run_file, idir, wdir), work.manifest_path,
                                workers, speculative)
    timings["digest"] = round(time.perf_counter() - t, 3)
    timings["digest_speculative"] = bool(speculative and speculative.used)
    out = Path(plan.options.out_dir)
    write_index(out, plan.config.name)
    timings["total"] = round(time.perf_counter() - work.t_start, 3)
    manifest = build_manifest(plan, work.files, outcomes, digest_outcome, work.tables.rejected_rows(),
                              work.tables.staff_lists(), timings)
    write_json(work.manifest_path, manifest)
    failed = [c for c, o in outcomes.items() if o.get("status") == "failed"]
    code = 1 if failed or digest_outcome.get("status") not in ("ok", "reused") else 0
    rejected = dict(zip(plan.metrics["community"], plan.metrics["rejected_rows"].astype(int)))
    return BatchResult(plan.week, plan.week_chosen, out, wdir / "digest.html", outcomes, code, timings, plan.slugs,
                       rejected, len(manifest["warnings"]))


def run_subdistrict(options: BatchOptions, workers, progress=None) -> BatchResult:
    """Run one sub-district's batch with the caller's lock and executor (``workers()`` returns it)."""
    return finish_subdistrict(prepare_subdistrict(options, workers), workers, progress)
