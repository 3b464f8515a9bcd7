"""The files the batch process writes besides the notebooks: shared tables, then each community's own.

Shared (one per sub-district and week; a failed write ends the run): metrics.csv and .xlsx,
rejects.csv, flags.csv and collectors.xlsx are written before any notebook runs, so a run
that ends on one of them has replaced no report. digest.png is the digest's picture and goes
with the digest: it is drawn after the last community's own files, while the workers render
the last communities, just before the digest is handed out (its drawing took ~1.5 s of the
batch process with both workers idle when it came first); a failed write of it ends the run
as a failed digest.html does.

A community's own files (its to-fix list, back-check, issues, shops and 包户人 workbooks, and
its WeChat image) are written one community at a time, just before that community's notebook
is handed to a worker (``batch.run_communities``): the batch process writes community k+1's
while the workers render community k, instead of all of them before the first notebook, and a
community whose file cannot be written still fails alone, its notebook never run and its
previous report left as it was.

Both are reused like the notebooks: ``internal/W/tables.json`` records the shared files' key
and checksums, and each community's key and checksums. A community's key covers what its files
are made of (its prepared slice, its rows of the metrics history, the configuration, the week,
the parameters, the code), not the other communities' data, so a re-run after one community's
file changed writes that community's files again and reuses the others'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd

from canvass.report import staff_lists as sl
from canvass.run.atomic import write_json
from canvass.run.store import file_checksums, files_intact, output_fingerprint

TABLES_RECORD = "tables.json"  # internal/W/: the keys and checksums of the files below
IMAGE_FOOTER = "数据截至 {y}年{m}月{d}日（周日） · 完整报告见 {page}"
SAMPLE_BANNER = "示例数据：由项目自带的模拟数据生成，不代表真实情况。"


def _digest(src) -> str:
    return hashlib.sha256(json.dumps(src, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _today_if_current(week: str) -> str:
    """A week not over yet depends on today too (its "data until" date)."""
    from canvass.weeks import week_bounds

    return str(dt.date.today()) if week_bounds(week)[1] >= dt.date.today() else ""


def image_style(config, week: str, sample: bool) -> dict:
    """Return the WeChat images' banner, assessment date and footer (digest and communities alike)."""
    from canvass.weeks import week_bounds

    sunday = week_bounds(week)[1]
    return {"banner": SAMPLE_BANNER if sample else "", "assessment": config.assessment_date,
            "footer": IMAGE_FOOTER.format(y=sunday.year, m=sunday.month, d=sunday.day, page="digest.html")}


def _read_record(idir: Path) -> dict:
    try:
        found = json.loads((idir / TABLES_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


class TableFiles:
    """What the batch process writes for one sub-district and week, and the record of it.

    ``write_shared()`` first, then ``write_community(c)`` for every community (in any thread,
    one at a time), then ``write_digest_image()``, then ``save_record()``.
    """

    def __init__(self, plan, wdir: Path, idir: Path, sample: bool):
        self.plan, self.wdir, self.idir = plan, wdir, idir
        self.style = image_style(plan.config, plan.week, sample)
        self.sample = sample
        self.code = output_fingerprint()  # once per run: every key below holds it (a stat of ~100 files a call)
        self.previous = {} if plan.options.force else _read_record(idir)
        self.shared: dict | None = None  # {"key", "rejected_rows", "staff_lists", "outputs"}
        self.communities: dict = {}  # community → {"key", "staff_lists", "outputs"}, when written or reused
        self.written = self.reused = 0
        self._prepared = None  # what every community's files read, made once (the cleaned tables' views)
        self._image_due = False  # digest.png: drawn when write_shared wrote the tables this run

    # --- shared ---------------------------------------------------------------------------

    def shared_key(self) -> str:
        """Equal keys mean equal shared files: the prepared folder hashes every input, the
        configuration and the code; the history, parameters and selection complete it."""
        plan = self.plan
        return _digest({"prepared": plan.prepared_dir.name, "week": plan.week, "params": plan.options.params,
                        "targets": plan.targets, "selected": plan.selected, "sample": self.sample,
                        "code": self.code, "today": _today_if_current(plan.week),
                        "history": hashlib.sha256(plan.history.to_csv(index=False).encode()).hexdigest()})

    def shared_paths(self) -> dict:
        w, i = self.wdir, self.idir
        return {"metrics.csv": w / "metrics.csv", "metrics.xlsx": w / "metrics.xlsx", "digest.png": w / "digest.png",
                "rejects.csv": i / "rejects.csv", "flags.csv": i / "flags.csv", "collectors.xlsx": i / "collectors.xlsx"}

    def write_shared(self) -> bool:
        """Write the shared tables (or find every shared file intact from a run of the same key);
        return True when reused. digest.png is left to ``write_digest_image``.

        A failed write raises OutputError: the run ends before any report was replaced."""
        from canvass.report.tables import write_metrics_csv, write_metrics_xlsx
        from canvass.run.batch import write_rejects

        key, paths = self.shared_key(), self.shared_paths()
        prev = self.previous.get("shared") or {}
        if prev.get("key") == key and files_intact(prev.get("outputs"), paths):
            self.shared = prev
            return True
        plan, cleaned, week = self.plan, self.plan.cleaned, self.plan.week
        write_metrics_csv(plan.metrics, paths["metrics.csv"])
        write_metrics_xlsx(plan.metrics, plan.history, paths["metrics.xlsx"])
        n_rejects = write_rejects(cleaned, week, paths["rejects.csv"])
        counts = {"flags": sl.write_flags(cleaned, week, paths["flags.csv"]),
                  "collectors": sl.write_collectors(cleaned, week, paths["collectors.xlsx"])}
        tables = {role: p for role, p in paths.items() if role != "digest.png"}
        self.shared = {"key": key, "rejected_rows": n_rejects, "staff_lists": counts,
                       "outputs": file_checksums(tables)}
        self._image_due = True
        return False

    def write_digest_image(self) -> None:
        """Draw digest.png when the shared files were written this run (not when reused).

        Called after every community's own files and before the digest; a failed write raises
        OutputError and ends the run, as the digest's own page does."""
        from canvass.report import narrative, wechat

        if not self._image_due:
            return
        plan, path = self.plan, self.shared_paths()["digest.png"]
        # the same three parts as the digest's HTML (report/narrative.py), from the same numbers
        parts = narrative.week_summary(plan.metrics, self._views()["grids"]).as_dict()
        wechat.render(wechat.digest_image(plan.metrics, plan.config.name, plan.week, parts=parts, **self.style), path)
        self.shared["outputs"] = {**self.shared["outputs"], **file_checksums({"digest.png": path})}
        self._image_due = False

    # --- one community's ------------------------------------------------------------------

    def _views(self) -> dict:
        """Return what every community's files are made from (computed once, on first use)."""
        if self._prepared is None:
            from canvass.report import views
            from canvass.run.batch import rejects_table

            plan, cleaned = self.plan, self.plan.cleaned
            from canvass.report.fixlist import fix_table

            table = rejects_table(cleaned, plan.week)
            self._prepared = {
                "fix": fix_table(table, cleaned.files),
                "grids": views.grid_pace(cleaned, plan.week, str(plan.history["week"].min())),
                "shops": cleaned.shops is not None,
                "responsible": "responsible" in cleaned.households
                and (cleaned.households["responsible"].astype(str) != "").any(),
                "overdue": plan.options.params.get("overdue_days") or plan.config.overdue_days,
            }
        return self._prepared

    def community_key(self, community: str) -> str:
        """Equal keys mean equal files of this community (whatever the other communities' data)."""
        plan = self.plan
        h = plan.history
        mine = h[(h["scope"] == "community") & (h["community"] == community)]
        return _digest({"slice": plan.slice_hashes[community], "metrics": mine.to_csv(index=False),
                        "config": dataclasses.asdict(plan.config) | {"source": None},
                        "first_week": str(h["week"].min()), "week": plan.week, "params": plan.options.params,
                        "targets": plan.targets, "slug": plan.slugs[community], "sample": self.sample,
                        "selected": community in plan.selected, "code": self.code,
                        "today": _today_if_current(plan.week)})

    def community_paths(self, community: str, image: bool = True) -> dict:
        v, slug = self._views(), self.plan.slugs[community]
        names = ["fix", "backcheck", "issues", *(["shops"] if v["shops"] else []),
                 *(["responsible"] if v["responsible"] else [])]
        paths = {f"{n}/{slug}.xlsx": self.idir / n / f"{slug}.xlsx" for n in names}
        if image and community in self.plan.selected:
            paths[f"communities/{slug}.png"] = self.wdir / "communities" / f"{slug}.png"
        return paths

    def _intact(self, recorded) -> bool:
        """Return True when every file a record lists is there with its checksum (same key, same
        files: which files a community has is decided by what its key covers)."""
        if not isinstance(recorded, dict) or not recorded:
            return False
        return files_intact(recorded, {role: (self.wdir if role.startswith("communities/") else self.idir) / role
                                       for role in recorded})

    def write_community(self, community: str, failed: dict, image: bool = True) -> None:
        """Write (or find intact) one community's own files; a failed write goes into ``failed``
        (community → the one-line message) and fails that community alone."""
        from canvass.report import narrative, wechat
        from canvass.report.fixlist import write_fixlist
        from canvass.report.staff_lists import own_file

        plan, cleaned, week = self.plan, self.plan.cleaned, self.plan.week
        key = self.community_key(community)
        prev = (self.previous.get("communities") or {}).get(community) or {}
        if prev.get("key") == key and self._intact(prev.get("outputs")):  # (no table read to know it)
            self.communities[community] = prev
            self.reused += 1
            return
        paths = self.community_paths(community, image)
        v, one = self._views(), {community: plan.slugs[community]}
        rows: dict = {}
        with own_file(community, failed):
            rows["fix"] = write_fixlist(v["fix"], community, week, self.idir / "fix" / f"{one[community]}.xlsx")
        # The staff lists read only this community's rows (what the key covers): its slice, taken
        # once, instead of each list filtering every table again (1.7 s of CPU at N = 20).
        mine = cleaned.community_slice(community) if len(cleaned.communities) > 1 else cleaned
        rows["backcheck"] = sl.write_backchecks(mine, week, self.idir / "backcheck", one, failed).get(community)
        rows["issues"] = sl.write_issue_lists(mine, week, self.idir / "issues", one, v["overdue"], failed).get(community)
        if v["shops"]:
            rows["shops"] = sl.write_shop_lists(mine, week, self.idir / "shops", one, failed).get(community)
        if v["responsible"]:
            rows["responsible"] = sl.write_responsible(mine, week, self.idir / "responsible", one, failed).get(community)
        if image and community in plan.selected:
            m = plan.metrics
            mine = m[m["community"] == community]
            alone = pd.concat([mine, mine.assign(scope="subdistrict")], ignore_index=True)  # as its own total
            grids = v["grids"]
            parts = narrative.week_summary(alone, grids[grids["community"] == community] if len(grids) else grids)
            # A community's image points to its own page (beside it in communities/), not the digest.
            style = {**self.style, "footer": self.style["footer"].replace("digest.html", f"{one[community]}.html")}
            picture = wechat.community_image(m, community, plan.config.name, week, parts=parts.as_dict(), **style)
            with own_file(community, failed):
                wechat.render(picture, self.wdir / "communities" / f"{one[community]}.png")
        if community not in failed:  # a failed one is written again next time
            self.communities[community] = {"key": key, "staff_lists": rows, "outputs": file_checksums(paths)}
            self.written += 1

    # --- the record -----------------------------------------------------------------------

    def staff_lists(self) -> dict:
        """Return rows per staff file kind as the manifest lists them (shared counts, then per community)."""
        out = dict(self.shared["staff_lists"]) if self.shared else {}
        for community, entry in self.communities.items():
            for kind, n in (entry.get("staff_lists") or {}).items():
                if kind != "fix" and n is not None:
                    out.setdefault(kind, {})[community] = n
        return out

    def rejected_rows(self) -> int:
        return int(self.shared["rejected_rows"]) if self.shared else 0

    def save_record(self) -> None:
        """Write internal/W/tables.json: what a later run of the same keys may reuse."""
        write_json(self.idir / TABLES_RECORD, {"shared": self.shared, "communities": self.communities})
