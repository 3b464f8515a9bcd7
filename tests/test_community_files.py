"""Each community's own files: written just before its notebook is handed out, reused by their own key."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from canvass.run.plan import BatchOptions

from .conftest import ROOT

TINY = ROOT / "tests" / "hostile" / "base"
W = "2023-W37"
OWN = ("fix", "backcheck", "issues")  # the tiny fixture has no shops file and no 包户人 column


def _run(data, out):
    from canvass.run.batch import run_batch

    return run_batch(BatchOptions(data_dir=data, out_dir=out, week=W, jobs=1))


def test_a_communitys_files_come_just_before_its_notebook(tmp_path, inline_workers, monkeypatch):
    from canvass.run import community_files, tasks

    log = []
    write = community_files.TableFiles.write_community
    run_task = tasks.run_notebook_task

    def logged_write(self, community, failed, image=True):
        log.append(("files", community))
        return write(self, community, failed, image)

    def logged_task(task):
        log.append(("notebook", task["community"] or "digest"))
        return run_task(task)

    def logged_image(self):
        log.append(("digest.png", self._image_due))
        return image(self)

    image = community_files.TableFiles.write_digest_image
    monkeypatch.setattr(community_files.TableFiles, "write_community", logged_write)
    monkeypatch.setattr(community_files.TableFiles, "write_digest_image", logged_image)
    monkeypatch.setattr(tasks, "run_notebook_task", logged_task)
    shutil.copytree(TINY, tmp_path / "data")
    result = _run(tmp_path / "data", tmp_path / "out")
    assert result.exit_code == 0
    first, second = list(result.outcomes)  # display order
    # Not every community's files first: the second community's are written after the first's
    # notebook was handed out (the executor draws tasks from the batch as it writes them). The
    # digest, the longest task, is handed out right after the first community (on the outcomes
    # expected), and its picture is drawn after the last community's files.
    assert log == [("files", first), ("notebook", first), ("notebook", "digest"), ("files", second),
                   ("notebook", second), ("digest.png", True)]
    assert result.timings["digest_speculative"] is True  # the early digest was the one published
    record = json.loads((tmp_path / "out" / "internal" / W / "tables.json").read_text(encoding="utf-8"))
    png = tmp_path / "out" / W / "digest.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import hashlib
    assert record["shared"]["outputs"]["digest.png"] == hashlib.sha256(png.read_bytes()).hexdigest()


def test_one_communitys_change_rewrites_only_its_own_files(tmp_path, inline_workers):
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(TINY, data)
    first = _run(data, out)
    assert first.exit_code == 0
    idir = out / "internal" / W
    haigang, xiuzhu = first.slugs["海港社区"], first.slugs["修竹社区"]
    record = json.loads((idir / "tables.json").read_text(encoding="utf-8"))
    assert set(record["communities"]) == {"海港社区", "修竹社区"}
    assert first.timings["community_files"] == {"written": 2, "reused": 0}

    def stamps(slug):
        paths = [idir / kind / f"{slug}.xlsx" for kind in OWN] + [out / W / "communities" / f"{slug}.png"]
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in paths}

    xiuzhu_before, haigang_before = stamps(xiuzhu), stamps(haigang)
    # A new open issue of 海港社区 only: 修竹社区's slice, history rows and files stay as they were.
    issues = data / "issues" / "问题清单.csv"
    issues.write_text(issues.read_text(encoding="utf-8") + "2023-09-13,海港社区,环境卫生,楼道堆物待清理,社区解决,办理中,,1号楼\n",
                      encoding="utf-8")
    second = _run(data, out)
    assert second.exit_code == 0
    assert second.timings["community_files"] == {"written": 1, "reused": 1}
    assert stamps(xiuzhu) == xiuzhu_before  # not even rewritten with the same bytes
    after = stamps(haigang)
    assert after[idir / "issues" / f"{haigang}.xlsx"] != haigang_before[idir / "issues" / f"{haigang}.xlsx"]
    from openpyxl import load_workbook

    rows = [r for r in load_workbook(idir / "issues" / f"{haigang}.xlsx").active.iter_rows(values_only=True)]
    assert any("楼道堆物待清理" in str(r[-1]) for r in rows[1:]), rows
    # The manifest still counts every community's staff rows, the reused one's included.
    manifest = json.loads((out / W / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["staff_lists"]["issues"]) == {"海港社区", "修竹社区"}
    # 海港社区's open issues: 消防通道被占 (办理中; 垃圾桶满溢 was closed) and the new one.
    assert manifest["staff_lists"]["issues"]["海港社区"] == 2


def _double(x):
    return 2 * x


@pytest.mark.slow
def test_the_local_executor_hands_out_tasks_while_the_generator_still_makes_them():
    from canvass.run.executors import LocalExecutor

    ex = LocalExecutor(1, prewarm=False)
    try:
        first_done = threading.Event()
        waited = []

        def make():
            yield 1
            waited.append(first_done.wait(120))  # the first result must arrive before the second is made
            yield 2

        got = []
        for index, res in ex.run(_double, make()):
            got.append((index, res))
            first_done.set()
        assert got == [(0, 2), (1, 4)] and waited == [True]

        def broken():
            yield 3
            raise ValueError("坏的任务")

        with pytest.raises(ValueError, match="坏的任务"):
            list(ex.run(_double, broken()))
    finally:
        ex.close()


# --- the digest beside the last communities (batch.SpeculativeDigest) ---------------------------

def _leftovers(out):
    return [p for p in out.rglob(".*") if p.is_file() and not p.name.startswith(".canvass")]


def test_the_digest_run_beside_the_last_community_is_the_digest(tmp_path, inline_workers):
    from dataclasses import replace

    from canvass.run.batch import run_batch

    shutil.copytree(TINY, tmp_path / "data")
    options = BatchOptions(data_dir=tmp_path / "data", out_dir=tmp_path / "out", week=W, jobs=1)
    ahead = run_batch(options)
    after = run_batch(replace(options, out_dir=tmp_path / "after", speculative_digest=False))
    assert ahead.exit_code == after.exit_code == 0
    assert ahead.timings["digest_speculative"] is True and after.timings["digest_speculative"] is False
    assert (tmp_path / "out" / W / "digest.html").read_bytes() == (tmp_path / "after" / W / "digest.html").read_bytes()
    manifest = json.loads((tmp_path / "out" / W / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["digest"]["status"] == "ok"
    assert _leftovers(tmp_path / "out") == []
    # What the next run reuses: the real run.json, the digest's key and checksums.
    run = json.loads((tmp_path / "out" / "internal" / W / "run.json").read_text(encoding="utf-8"))
    assert "seconds" in run["outcomes"]["海港社区"]
    again = run_batch(options)
    assert json.loads((tmp_path / "out" / W / "manifest.json").read_text(encoding="utf-8"))["digest"]["status"] == "reused"
    assert again.timings["digest_speculative"] is False


def test_when_a_community_fails_the_digest_is_run_again_on_what_happened(tmp_path, inline_workers, monkeypatch):
    from canvass.run import tasks
    from canvass.run.batch import run_batch

    ran = []
    real = tasks.run_notebook_task

    def failing(task):
        ran.append(task["community"] or "digest")
        if task["community"] == "海港社区":
            return {"status": "failed", "error": "测试用的故意失败"}
        return real(task)

    monkeypatch.setattr(tasks, "run_notebook_task", failing)
    shutil.copytree(TINY, tmp_path / "data")
    result = run_batch(BatchOptions(data_dir=tmp_path / "data", out_dir=tmp_path / "out", week=W, jobs=1))
    assert result.exit_code == 1
    # the expected-outcomes digest (after the first community), then the real one
    assert ran == ["海港社区", "digest", "修竹社区", "digest"]
    assert result.timings["digest_speculative"] is False
    digest = (tmp_path / "out" / W / "digest.html").read_text(encoding="utf-8")
    assert "报告生成失败" in digest and "测试用的故意失败" in digest
    assert _leftovers(tmp_path / "out") == []


def test_a_rerun_with_nothing_changed_never_reads_the_cleaned_slices(tmp_path, inline_workers, monkeypatch):
    from canvass.run import store
    from canvass.run.batch import run_batch

    shutil.copytree(TINY, tmp_path / "data")
    for week in (W, None):  # given, and chosen from the dates meta.json keeps
        options = BatchOptions(data_dir=tmp_path / "data", out_dir=tmp_path / f"out-{week}", week=week, jobs=1)
        first = run_batch(options)
        reads = []
        real = store.CachedTables._read
        monkeypatch.setattr(store.CachedTables, "_read", lambda self: reads.append(1) or real(self))
        again = run_batch(options)
        monkeypatch.undo()
        assert again.exit_code == 0 and again.week == first.week == W
        assert again.timings["clean_cached"] is True and again.timings["tables_reused"] is True
        assert {o["status"] for o in again.outcomes.values()} == {"reused"}
        assert reads == []


def test_each_image_points_to_its_own_page(tmp_path, inline_workers, monkeypatch):
    """A community's WeChat image names its own report (beside it in communities/), the digest's the digest."""
    from canvass.report import wechat

    footers = {}
    render = wechat.render

    def recording(picture, path):
        footers[path.name] = picture.footer
        return render(picture, path)

    monkeypatch.setattr(wechat, "render", recording)
    shutil.copytree(TINY, tmp_path / "data")
    assert _run(tmp_path / "data", tmp_path / "out").exit_code == 0
    slugs = json.loads((tmp_path / "out" / W / "manifest.json").read_text(encoding="utf-8"))["slugs"]
    assert set(footers) == {"digest.png"} | {f"{s}.png" for s in slugs.values()}
    assert footers["digest.png"].endswith("完整报告见 digest.html")
    for slug in slugs.values():
        assert footers[f"{slug}.png"] == "数据截至 2023年9月17日（周日） · 完整报告见 " + f"{slug}.html"
