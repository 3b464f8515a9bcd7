"""The floor: the batch's outputs made by plain function calls (no kernel, no nbconvert).

Same package functions, same processes count; used by bench_batch.py to see how close
the real batch (papermill notebooks in warm kernels) comes to doing only the work.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMMUNITY_SECTIONS = ("community_title", "community_headline", "community_grids", "community_buildings",
                      "community_trends", "community_issues", "community_quality")
DIGEST_SECTIONS = ("digest_title", "digest_headline", "digest_table", "digest_trends", "digest_behind",
                   "digest_issues", "digest_quality", "digest_links")


def community_job(args) -> str:
    prepared, history_file, community, slug, week, out, data_dir = args
    from canvass.notebook import is_sample
    from canvass.report import pages, sections, views
    from canvass.report.worklists import write_followup
    from canvass.run.atomic import write_text
    from canvass.run.store import load_history, load_prepared

    cleaned = load_prepared(Path(prepared), community)
    view = views.community_view(cleaned, community, week, cleaned.config.targets, load_history(history_file),
                                sample_data=is_sample(data_dir))
    parts = [getattr(sections, s)(view) for s in COMMUNITY_SECTIONS] + [sections.method_note(view)]
    write_text(Path(out) / week / "communities" / f"{slug}.html", pages.page(community, parts, week))
    write_followup(cleaned, community, week, Path(out) / "internal" / week / "followup" / f"{slug}.xlsx")
    return community


def run_floor(data_dir: Path, out: Path, week: str, jobs: int) -> None:
    """Write every output of the batch for ``week`` with direct function calls."""
    from canvass.config import load_config
    from canvass.ingest.clean import clean_folder
    from canvass.metrics import metrics_over_weeks, week_rows
    from canvass.notebook import is_sample
    from canvass.report import pages, sections, tables, views
    from canvass.run.atomic import write_text
    from canvass.run.batch import write_rejects
    from canvass.run.store import (
        input_fingerprint,
        load_prepared,
        save_history,
        save_prepared,
    )
    from canvass.slugs import assign_slugs

    config = load_config(data_dir)
    cleaned = clean_folder(data_dir, config)
    prepared = save_prepared(cleaned, out / "internal" / ".cache" / "prepared" / input_fingerprint(data_dir))
    w = out / week
    history = metrics_over_weeks(cleaned, week)
    history_file = out / "internal" / week / "metrics_history.parquet"
    save_history(history, history_file)
    tables.write_metrics_csv(week_rows(history, week), w / "metrics.csv")
    tables.write_metrics_xlsx(week_rows(history, week), history, w / "metrics.xlsx")
    write_rejects(cleaned, week, out / "internal" / week / "rejects.csv")
    slugs = assign_slugs(cleaned.communities)
    args = [(str(prepared), str(history_file), c, slugs[c], week, str(out), str(data_dir)) for c in cleaned.communities]
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(community_job, args))
    full = load_prepared(prepared)
    links = {c: f"communities/{s}.html" for c, s in slugs.items()}
    view = views.digest_view(full, week, full.config.targets, history, links=links, sample_data=is_sample(data_dir))
    parts = [getattr(sections, s)(view) for s in DIGEST_SECTIONS] + [sections.method_note(view)]
    write_text(w / "digest.html", pages.page(config.name, parts, week))
    pages.write_index(out, config.name)
    (w / "manifest.json").write_text(json.dumps({"floor": True}), encoding="utf-8")


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--week", required=True)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    run_floor(a.data, a.out, a.week, a.jobs)
