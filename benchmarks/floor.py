"""The floor: the batch's outputs made by plain function calls (no kernel, no nbconvert).

bench_batch.py compares the real batch (papermill notebooks in warm kernels) with this
script to see how close the batch comes to doing only the work. For the ratio to mean
anything the floor must be the *least* work that writes the same files, so it is lean:

- the pool of ``--jobs`` worker processes starts before cleaning, and each worker imports
  the report modules, registers the font and draws a throwaway chart while the parent
  cleans (nothing of a worker's set-up is on the critical path);
- the metrics history is computed once (as plan_batch does) and every output reads it;
- the digest and its image are made in the parent from the cleaned tables already in
  memory (no re-read of the parquet slices), while the workers render the communities;
- metrics.csv/.xlsx, the history file, rejects and to-fix lists and the staff lists are
  also written by the parent while the workers run, not before or after them;
- a worker renders a community's page, its follow-up workbook and its WeChat image from
  its one slice, read once.

The files it writes are the batch's, minus what only the notebooks leave behind (the
executed copies under internal/W/notebooks/ and internal/W/run.json, which hands the
outcomes to the digest notebook) and the batch's reuse record internal/W/tables.json:
  W/communities/<slug>.html and .png, W/digest.html and .png, W/metrics.csv and .xlsx,
  W/manifest.json, index.html, internal/.cache/prepared/<key>/ (the slices),
  internal/W/metrics_history.parquet (+ .sha256), rejects.csv, fix/, followup/, flags.csv,
  backcheck/, collectors.xlsx, issues/, shops/ and responsible/ (when the data has them).
The report pages carry the same sections as the notebooks: their names are read from the
notebooks' ``nb.show(sections.…)`` cells.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def notebook_sections(notebook: Path) -> list[str]:
    """Return the section functions a report notebook shows, in order."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    return [m for c in nb.cells if c.cell_type == "code" for m in re.findall(r"sections\.(\w+)\(view", c.source)]


def _warm() -> None:
    """Pool initializer: what the batch's warm kernels do once (imports, font, first chart)."""
    from canvass.report import (  # noqa: F401
        charts,
        pages,
        sections,
        templating,
        views,
        wechat,
        worklists,
    )

    charts.warm_up()
    templating.warm_up()


def _ready(_=None) -> int:
    import os

    return os.getpid()


def _page(view, names: list[str], title: str, week: str, **first) -> str:
    from canvass.report import pages, sections

    parts = [getattr(sections, n)(view, *first.get(n, ())) for n in names]
    return pages.page(title, parts, week)


def community_job(args) -> str:
    (prepared, history_file, community, slug, week, out, data_dir, names, metrics, grids, image_kw,
     digest_href) = args
    import pandas as pd

    from canvass.notebook import is_sample
    from canvass.report import narrative, views, wechat
    from canvass.report.worklists import write_followup
    from canvass.run.atomic import write_text
    from canvass.run.store import load_history, load_prepared
    from canvass.weeks import format_week_cn

    cleaned = load_prepared(Path(prepared), community)
    view = views.community_view(cleaned, community, week, cleaned.config.targets, load_history(history_file),
                                sample_data=is_sample(data_dir))
    w = Path(out) / week
    write_text(w / "communities" / f"{slug}.html",
               _page(view, names, f"{community} 创城入户宣传周报 {format_week_cn(week)}", week,
                     community_title=(digest_href,)))
    write_followup(cleaned, community, week, Path(out) / "internal" / week / "followup" / f"{slug}.xlsx")
    mine = metrics[metrics["community"] == community]
    alone = pd.concat([mine, mine.assign(scope="subdistrict")], ignore_index=True)
    parts = narrative.week_summary(alone, grids).as_dict()
    image = wechat.community_image(metrics, community, cleaned.config.name, week, parts=parts, **image_kw)
    wechat.render(image, w / "communities" / f"{slug}.png")
    return community


def run_floor(data_dir: Path, out: Path, week: str, jobs: int) -> dict:
    """Write every output of the batch for ``week`` with direct function calls; return timings."""
    t0 = time.perf_counter()
    timings = {}
    pool = ProcessPoolExecutor(jobs, initializer=_warm)
    for _ in range(jobs):  # start (and warm) every worker now, while this process cleans
        pool.submit(_ready)

    from canvass.config import load_config
    from canvass.ingest.clean import clean_folder
    from canvass.metrics import metrics_over_weeks, week_rows
    from canvass.notebook import is_sample
    from canvass.report import pages, views
    from canvass.run.atomic import write_text
    from canvass.run.community_files import TableFiles, image_style
    from canvass.run.plan import COMMUNITY_NB, DIGEST_NB, BatchOptions
    from canvass.run.store import input_fingerprint, save_history, save_prepared
    from canvass.slugs import assign_slugs
    from canvass.weeks import format_week_cn

    config = load_config(data_dir)
    cleaned = clean_folder(data_dir, config)
    timings["clean"] = time.perf_counter() - t0
    prepared = save_prepared(cleaned, out / "internal" / ".cache" / "prepared" / input_fingerprint(data_dir))
    history = metrics_over_weeks(cleaned, week, dict(config.targets), config.overdue_days)
    metrics = week_rows(history, week)
    w, idir = out / week, out / "internal" / week
    history_file = idir / "metrics_history.parquet"
    save_history(history, history_file)
    slugs = assign_slugs(list(cleaned.communities))
    sample = is_sample(data_dir)
    image_kw = image_style(config, week, sample)
    grids = views.grid_pace(cleaned, week, str(history["week"].min()))
    names = notebook_sections(COMMUNITY_NB)
    timings["prepare"] = time.perf_counter() - t0
    jobs_args = [(str(prepared), str(history_file), c, slugs[c], week, str(out), str(data_dir), names, metrics,
                  grids[grids["community"] == c] if len(grids) else grids, image_kw, "../digest.html")
                 for c in cleaned.communities]
    futures = [pool.submit(community_job, a) for a in jobs_args]

    # The parent's share, while the workers render the communities.
    # The batch's writers of the shared tables and of each community's own workbooks (its image
    # is the worker's here), without the reuse keys' bookkeeping (no record is written).
    plan = SimpleNamespace(options=BatchOptions(data_dir=data_dir, out_dir=out, force=True), config=config,
                           cleaned=cleaned, week=week, metrics=metrics, history=history, prepared_dir=prepared,
                           targets=dict(config.targets), selected=list(cleaned.communities), slugs=slugs,
                           slice_hashes=defaultdict(str))
    files = TableFiles(plan, w, idir, sample)
    files.write_shared()  # metrics.csv/.xlsx, rejects.csv, flags.csv, collectors.xlsx
    files.write_digest_image()  # digest.png
    timings["shared"] = time.perf_counter() - t0
    for c in cleaned.communities:
        files.write_community(c, {}, image=False)  # to-fix, back-check, issues, shops, 包户人
    timings["staff"] = time.perf_counter() - t0
    links = {c: f"communities/{s}.html" for c, s in slugs.items()}
    view = views.digest_view(cleaned, week, dict(config.targets), history, None, links=links,
                             sample_data=sample)
    write_text(w / "digest.html", _page(view, notebook_sections(DIGEST_NB), f"{config.name} 创城入户宣传周报 {format_week_cn(week)}",
                                             week))
    timings["parent"] = time.perf_counter() - t0
    for f in futures:
        f.result()
    timings["communities"] = time.perf_counter() - t0
    pool.shutdown()
    pages.write_index(out, config.name)
    timings = {k: round(v, 3) for k, v in timings.items()}
    (w / "manifest.json").write_text(json.dumps({"floor": True, "timings": timings}), encoding="utf-8")
    return timings


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--week", required=True)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    print(run_floor(a.data, a.out, a.week, a.jobs))
