"""A district's batch: every sub-district's pipeline in turn, one lock, one executor, one district digest.

Layout: OUT/<slug>/W/… holds each sub-district's shareable files, OUT/internal/<slug>/W/…
its personal data (so every folder outside OUT/internal/ can be forwarded), OUT/W/ the
district digest, district_metrics.csv and district.png, and OUT/index.html lists them.

Memory stays that of one sub-district: sub-districts are cleaned and run one at a time,
and the district digest reads back only their (small) metrics files. Without ``--week``
a first pass cleans each sub-district (its prepared cache is saved, so the second pass
loads it instead of cleaning again), notes its latest complete week and lets it go; the
district's week is the latest of those.

A sub-district with bad input (InputError/ConfigError) fails alone: it is named in the
district digest and the run exits 1; the others go on. A bad ``-p`` or ``--community``
stops the whole run (exit 2), as does a failed write of a shared district file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from canvass.district import District, SubdistrictFolder, load_district
from canvass.errors import ConfigError, InputError, ParameterError
from canvass.memory import release_memory
from canvass.privacy import shareable_path
from canvass.run.atomic import OutputLock, write_bytes, write_json
from canvass.run.plan import BatchOptions, _is_sample
from canvass.weeks import parse_week


@dataclass
class SubdistrictRun:
    """One sub-district's part of a district run."""

    name: str
    slug: str
    status: str  # ok | partial | failed | reused | not run
    error: str = ""
    result: object = None  # run.batch.BatchResult when it ran
    digest: Path | None = None


@dataclass
class DistrictResult:
    """What a district run did (all the CLI prints)."""

    name: str
    week: str
    week_chosen: bool
    out_dir: Path
    district: Path  # OUT/W/district.html
    subdistricts: list = field(default_factory=list)  # SubdistrictRun, display order
    exit_code: int = 0
    timings: dict = field(default_factory=dict)


def subdistrict_options(options: BatchOptions, district: District, sub: SubdistrictFolder) -> BatchOptions:
    """Return the options of one sub-district's run inside the district's output folder."""
    out = Path(options.out_dir)
    return replace(options, data_dir=sub.folder, out_dir=out / sub.slug, internal_dir=out / "internal" / sub.slug,
                   base_targets=dict(district.targets), communities=[], config_file=None)


def clean_once(options: BatchOptions) -> dict:
    """Clean (or load) one sub-district and save its prepared cache; return its latest week and communities.

    A task for the executor's worker processes (picklable, returns plain data): the first
    pass cleans two sub-districts at a time while the kernels would otherwise sit idle.
    """
    from canvass.ingest.clean import clean_folder
    from canvass.metrics import latest_week
    from canvass.run.plan import prepared_location, read_cache_for
    from canvass.run.store import load_cached, save_prepared

    try:
        config, prepared = prepared_location(options)
        cleaned = load_cached(prepared)
        if cleaned is None:
            cleaned = clean_folder(Path(options.data_dir), config, read_cache_for(options))
            save_prepared(cleaned, prepared)
    except (InputError, ConfigError) as exc:
        return {"status": "failed", "error": exc.one_line()}
    found = {"status": "ok", "week": latest_week(cleaned, options.today), "communities": list(cleaned.communities)}
    del cleaned
    release_memory()
    return found


def district_targets(district: District, options: BatchOptions) -> dict:
    """Return the targets the district digest judges on: district.yml's, then ``-p target_X``."""
    from canvass.run.plan import TARGET_PARAMS

    targets = dict(district.targets)
    for k in TARGET_PARAMS:
        if options.params.get(f"target_{k}") is not None:
            targets[k] = float(options.params[f"target_{k}"])
    return targets


def first_pass(options: BatchOptions, district: District, failed: dict, workers) -> tuple[dict, dict]:
    """Clean (or load) each sub-district once; return ({slug: latest complete week}, {slug: communities}).

    The prepared cache each one saves is what the second pass loads; a sub-district whose
    input is bad goes into ``failed`` (slug → one-line message). On the local executor the
    cleaning runs in its worker processes (they share this machine's disk); elsewhere here.
    """
    subs = list(district.subdistricts)
    args = [subdistrict_options(options, district, sub) for sub in subs]
    if options.executor == "local":
        results = dict(workers().run(clean_once, args))
    else:
        results = {i: clean_once(a) for i, a in enumerate(args)}
    weeks, communities = {}, {}
    for i, sub in enumerate(subs):
        res = results[i]
        if res.get("status") != "ok":
            failed[sub.slug] = res.get("error", "未知错误")
            continue
        weeks[sub.slug], communities[sub.slug] = res["week"], res["communities"]
    return weeks, communities


def select_communities(wanted: list[str], district: District, communities: dict) -> dict:
    """Return {slug: [community, …]} for ``--community`` entries, ``社区`` or ``街道/社区``.

    A name used in two sub-districts must be written ``街道/社区`` (the error lists them).
    """
    by_slug = {s.slug: s for s in district.subdistricts}
    out: dict = {}
    for entry in wanted:
        entry = entry.strip()
        if "/" in entry:
            sub_name, _, community = entry.partition("/")
            subs = [s for s in district.subdistricts if sub_name.strip() in (s.name, s.folder.name, s.slug)]
            if not subs:
                raise ParameterError(f"区中没有街道：{sub_name}", expected="、".join(s.name for s in district.subdistricts))
            sub = subs[0]
            if community.strip() not in communities.get(sub.slug, []):
                raise ParameterError(f"{sub.name} 的数据中没有社区：{community}",
                                     expected="、".join(communities.get(sub.slug, [])) or "该街道的数据有误，见上")
            out.setdefault(sub.slug, []).append(community.strip())
            continue
        found = [slug for slug, names in communities.items() if entry in names]
        if not found:
            raise ParameterError(f"区中各街道的数据里都没有社区：{entry}", expected="社区名称，或 街道/社区")
        if len(found) > 1:
            raise ParameterError(f"社区 “{entry}” 在多个街道中都有，请写明街道",
                                 expected="、".join(f"{by_slug[s].name}/{entry}" for s in found))
        out.setdefault(found[0], []).append(entry)
    return out


def run_district(options: BatchOptions, progress=None) -> DistrictResult:
    """Run every sub-district of a district folder and write the district digest (see the module docstring)."""
    from canvass.report import district as report
    from canvass.run.batch import remove_stale_temp_files
    from canvass.run.executors import started_on_use

    t_start = time.perf_counter()
    if options.config_file:
        raise ParameterError("区文件夹不能用 --config：各街道用各自文件夹中的 subdistrict.yml",
                             expected="去掉 --config，或 --data 指向单个街道的文件夹")
    district = load_district(Path(options.data_dir))
    out = Path(options.out_dir)
    timings: dict = {}
    runs: list[SubdistrictRun] = []
    weeks: dict = {}
    with OutputLock(out, wait=options.lock_wait), started_on_use(options) as workers:
        remove_stale_temp_files(out)
        failed: dict = {}
        chosen = options.week is None
        selection = None
        if chosen or options.communities:
            weeks, communities = first_pass(options, district, failed, workers)
            timings["first_pass"] = round(time.perf_counter() - t_start, 3)
            if options.communities:
                selection = select_communities(options.communities, district, communities)
        if options.week:
            week = parse_week(options.week)
        else:
            found = [w for w in weeks.values() if w]
            if not found:
                raise InputError("各街道的数据中都没有已结束的一周（周日早于今天）的走访或问卷记录，无法自动确定报告周",
                                 file=str(options.data_dir), expected="用 --week 指定，如 --week 2023-W36")
            week = max(found)
        runs = run_subdistricts(options, district, week, failed, selection, workers, progress, timings)

        t = time.perf_counter()
        subs = [report.read_subdistrict(r.name, r.slug, r.status, r.error, out / r.slug, out / "internal" / r.slug,
                                        week) for r in runs]
        for r, s in zip(runs, subs):
            r.status = s.status  # "not run" when it has no files for W
        targets = district_targets(district, options)
        html, table = report.render_district(subs, district.name, week, targets,
                                             sample_data=_is_sample(options))
        wdir = out / week
        report.write_district_csv(table, wdir / "district_metrics.csv")
        write_bytes(wdir / "district.html", html.encode("utf-8"))
        if len(table):
            from canvass.report import wechat
            banner = "示例数据：由项目自带的模拟数据生成，不代表真实情况。" if _is_sample(options) else ""
            wechat.render(report.district_image(table, district.name, week, subs, targets, banner),
                          wdir / "district.png")
        write_district_index(out, district, [r.slug for r in runs])
        timings["district_digest"] = round(time.perf_counter() - t, 3)
        timings["total"] = round(time.perf_counter() - t_start, 3)
        write_json(wdir / "district_manifest.json", {
            "district": district.name, "week": week, "week_chosen_automatically": chosen,
            "data_dir": shareable_path(options.data_dir),
            "config_file": shareable_path(district.source, options.data_dir) if district.source else district.source,
            "targets": targets, "overrides": options.params,
            "subdistricts": [{"name": r.name, "slug": r.slug, "status": r.status, "error": r.error}
                             for r in runs],
            "timings": timings})
    code = 0 if all(r.status in ("ok", "reused") for r in runs) else 1
    return DistrictResult(district.name, week, chosen, out, out / week / "district.html", runs, code, timings)


def run_subdistricts(options: BatchOptions, district: District, week: str, failed: dict, selection: dict | None,
                     workers, progress, timings: dict) -> list[SubdistrictRun]:
    """Run each sub-district's pipeline; return their runs in display order.

    Pipelined: while the workers run sub-district k's notebooks (a helper thread waits on
    them), this thread cleans, plans and writes the tables and images of sub-district k+1,
    so the batch process's serial work no longer leaves the workers idle. Only one thread
    uses the executor at a time.
    """
    from concurrent.futures import ThreadPoolExecutor

    from canvass.run.batch import finish_subdistrict, prepare_subdistrict

    runs: dict = {}

    def collect(pending) -> None:
        sub, future, t = pending
        result = future.result()  # an OutputError (a shared file) ends the run here
        timings[sub.slug] = round(timings[sub.slug] + result.timings.get("communities", 0)
                                  + result.timings.get("digest", 0), 3)
        runs[sub.slug] = SubdistrictRun(sub.name, sub.slug, "ok" if result.exit_code == 0 else "partial",
                                        result=result, digest=result.digest)

    pending = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvass-notebooks") as runner:
        for sub in district.subdistricts:
            opts = replace(subdistrict_options(options, district, sub), week=week,
                           district_href=f"../../{week}/district.html")  # from OUT/<slug>/W/digest.html
            if sub.slug in failed:
                runs[sub.slug] = SubdistrictRun(sub.name, sub.slug, "failed", failed[sub.slug])
                continue
            if selection is not None and sub.slug not in selection:
                done = (opts.out_dir / week / "metrics.csv").is_file()
                runs[sub.slug] = SubdistrictRun(sub.name, sub.slug, "reused" if done else "not run",
                                                digest=opts.out_dir / week / "digest.html" if done else None)
                continue
            if selection is not None:
                opts = replace(opts, communities=selection[sub.slug])
            t = time.perf_counter()
            try:
                work = prepare_subdistrict(opts, workers)
            except (InputError, ConfigError) as exc:
                runs[sub.slug] = SubdistrictRun(sub.name, sub.slug, "failed", exc.one_line())
                continue
            finally:
                timings[sub.slug] = round(time.perf_counter() - t, 3)  # its own serial work
                release_memory()

            def sub_progress(community, outcome, _name=sub.name):
                if progress:
                    progress(f"{_name}/{community}", outcome)

            if pending is not None:
                collect(pending)
            pending = (sub, runner.submit(finish_subdistrict, work, workers, sub_progress), t)
        if pending is not None:
            collect(pending)
    return [runs[s.slug] for s in district.subdistricts]


def write_district_index(out: Path, district: District, slugs: list[str]) -> None:
    """Write OUT/index.html: every week's district digest and, under it, each sub-district's digest."""
    from markupsafe import Markup

    from canvass.report.pages import css, footer
    from canvass.report.templating import render
    from canvass.run.atomic import write_text

    weeks = sorted((p.parent.name for p in out.glob("*-W*/district.html")), reverse=True)
    names = {s.slug: s.name for s in district.subdistricts}
    rows = [{"week": w, "subs": [{"name": names[s], "href": f"{s}/{w}/digest.html"} for s in slugs
                                  if (out / s / w / "digest.html").is_file()]} for w in weeks]
    html = render("pages/district_index.html.j2", title=f"{district.name} 周报目录", css=Markup(css()),
                  footer=footer(), district=district.name, weeks=rows)
    write_text(out / "index.html", html + "\n")
