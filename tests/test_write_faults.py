"""Output writes that fail: every write site in turn, a full disk and a read-only folder.

Each write of the batch ends in ``canvass.run.atomic._replace``; a test makes it raise
``OSError`` for one target (a path pattern under --out) and checks what the analyst gets: a
one-line message in their words, the previous outputs unchanged, no temp file left, and a next
run that completes. A shared output (metrics, rejects, digest, index, manifest) that cannot be
written ends the run (exit 2); one community's files fail only that community (exit 1).

Runs are in-process (``cli.main`` with ``InlineExecutor``) on the tiny fixture (with a shops file
and a 包户人 column, so every per-community workbook is written), starting from a copy of one
module-wide first run.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from canvass import cli
from canvass.errors import OutputError
from canvass.run import atomic

from .conftest import ROOT

TINY = ROOT / "tests" / "hostile" / "base"
W = "2023-W37"
# No xdist group: every case copies the module's first run, so the cases spread over both
# workers (each builds its own first run once) instead of one worker taking ~3 minutes.
pytestmark = [pytest.mark.slow]

# (target under --out, --force needed for the write to happen, expected exit code)
SHARED = {
    "metrics.csv": f"{W}/metrics.csv",
    "metrics.xlsx": f"{W}/metrics.xlsx",
    "metrics history": f"internal/{W}/metrics_history.parquet",
    "rejects.csv": f"internal/{W}/rejects.csv",
    "flags.csv": f"internal/{W}/flags.csv",
    "collectors.xlsx": f"internal/{W}/collectors.xlsx",
    "digest image": f"{W}/digest.png",
    "run.json": f"internal/{W}/run.json",
    "digest.html": f"{W}/digest.html",
    "digest notebook": f"internal/{W}/notebooks/digest.ipynb",
    "index.html": "index.html",
    "manifest.json": f"{W}/manifest.json",
}
# One community's own files: written before its notebook (to-fix, staff workbooks, WeChat image)
# or by its notebook task (report, executed notebook, follow-up list; --force makes it run).
COMMUNITY = {
    "fix list": f"internal/{W}/fix/haigang-shequ.xlsx",
    "back-check list": f"internal/{W}/backcheck/haigang-shequ.xlsx",
    "issues list": f"internal/{W}/issues/haigang-shequ.xlsx",
    "shops list": f"internal/{W}/shops/haigang-shequ.xlsx",
    "responsible list": f"internal/{W}/responsible/haigang-shequ.xlsx",
    "community image": f"{W}/communities/haigang-shequ.png",
    "community html": f"{W}/communities/haigang-shequ.html",
    "community notebook": f"internal/{W}/notebooks/haigang-shequ.ipynb",
    "follow-up list": f"internal/{W}/followup/haigang-shequ.xlsx",
}
BY_NOTEBOOK = ("community html", "community notebook", "follow-up list")
# Written again on every run with a time stamp inside (workbooks, executed notebooks, outcomes,
# and the tables' reuse record, which holds the workbooks' checksums).
STAMPED = ("*.xlsx", "*.ipynb", f"internal/{W}/run.json", f"internal/{W}/tables.json")


def _run(data: Path, out: Path, capsys, *extra: str) -> tuple[int, str]:
    code = cli.main(["--data", str(data), "--out", str(out), "--week", W, "--jobs", "1", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _files(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name != ".canvass.lock"}


def _leftovers(out: Path) -> list:
    """Temp files (dot files but the lock's) and temp folders (``.*.tmp``)."""
    return [p for p in out.rglob(".*") if (p.is_file() and not p.name.startswith(".canvass")) or p.suffix == ".tmp"]


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, _inline_kernel):
    """Return (data, --out) of one complete in-process batch on the tiny fixture.

    Session scope: a module fixture is made again each time a worker comes back to this
    module after other tests (with --dist loadgroup a group's tests are handed out apart
    from the module's other tests).
    """
    from canvass.run import executors

    from .conftest import InlineExecutor

    root = tmp_path_factory.mktemp("write-faults")
    shutil.copytree(TINY, root / "data")
    registry = root / "data" / "households" / "住户台账.csv"
    lines = registry.read_text(encoding="utf-8").splitlines()
    registry.write_text("\n".join([lines[0] + ",包户人", *(ln + ",张三" for ln in lines[1:])]) + "\n", encoding="utf-8")
    (root / "data" / "shops").mkdir()
    (root / "data" / "shops" / "门前三包巡查记录.csv").write_text(
        "巡查日期,社区,商铺名称,巡查结果,存在问题,处理措施,整改期限,责任书\n"
        "2023-09-12,海港社区,海港小卖部,不合格,占道经营,限期整改,2023-09-20,是\n"
        "2023-09-12,修竹社区,修竹面馆,合格,,,,是\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(executors.EXECUTORS, "local", InlineExecutor)
        code = cli.main(["--data", str(root / "data"), "--out", str(root / "out"), "--week", W, "--jobs", "1"])
    assert code == 0
    for target in (*SHARED.values(), *COMMUNITY.values()):  # every site is really written
        assert (root / "out" / target).is_file(), target
    return root / "data", root / "out"


@pytest.fixture
def previous(first_run, tmp_path, inline_workers) -> tuple[Path, Path]:
    data, out = first_run
    shutil.copytree(out, tmp_path / "out")
    return data, tmp_path / "out"


def _fail_writes_to(monkeypatch, out: Path, pattern: str, code: int = errno.ENOSPC) -> list:
    """Make every atomic write whose target matches ``pattern`` (relative to ``out``) raise OSError."""
    real = atomic._replace
    hits = []

    def replace(tmp, path):
        rel = Path(path).resolve().relative_to(out.resolve()).as_posix()
        if fnmatch.fnmatch(rel, pattern):
            hits.append(rel)
            raise OSError(code, os.strerror(code), str(tmp))
        return real(tmp, path)

    monkeypatch.setattr(atomic, "_replace", replace)
    return hits


def _check_unchanged(before: dict, after: dict, target: str, may_change: tuple) -> None:
    assert set(before) <= set(after), f"outputs disappeared: {set(before) - set(after)}"
    assert after[target] == before[target], f"{target} was not left as it was"
    changed = [f for f in before if after[f] != before[f]
               and not any(fnmatch.fnmatch(f, pat) for pat in (*STAMPED, *may_change))]
    assert not changed, f"a failed run changed {changed}"


@pytest.mark.parametrize("site", list(SHARED))
def test_a_shared_output_that_cannot_be_written_ends_the_run(previous, monkeypatch, capsys, site):
    data, out = previous
    target = SHARED[site]
    before = _files(out)
    hits = _fail_writes_to(monkeypatch, out, target)
    # The digest, the tables and the history are written only when they are made again
    # (a re-run with nothing changed reuses them by key).
    force = ("--force",) if site not in ("run.json", "index.html", "manifest.json") else ()
    code, shown = _run(data, out, capsys, *force)
    assert hits == [target], hits
    assert code == 2, shown
    errors = [ln for ln in shown.splitlines() if "错误" in ln]
    assert len(errors) == 1 and "内部错误" not in shown and "Traceback" not in shown, shown
    assert "磁盘空间不足" in errors[0] and str(out / target) in errors[0] and "之前生成的报告保持不变" in errors[0]
    _check_unchanged(before, _files(out), target, ())
    assert _leftovers(out) == []
    monkeypatch.setattr(atomic, "_replace", os.replace)
    code, shown = _run(data, out, capsys)
    assert code == 0, shown
    assert _leftovers(out) == []


@pytest.mark.parametrize("site", list(COMMUNITY))
def test_a_community_whose_files_cannot_be_written_fails_alone(previous, monkeypatch, capsys, site):
    data, out = previous
    target = COMMUNITY[site]
    # Files written before the notebooks are reused by key (tables.json) like the notebooks:
    # without their record they are written again, while the notebooks are still reused.
    force = site in BY_NOTEBOOK
    if not force:
        (out / "internal" / W / "tables.json").unlink()
    before = _files(out)
    hits = _fail_writes_to(monkeypatch, out, target, errno.EACCES)
    code, shown = _run(data, out, capsys, *(("--force",) if force else ()))
    assert hits == [target], hits
    assert code == 1, shown
    failed = [ln for ln in shown.splitlines() if "[失败] 海港社区" in ln]
    assert len(failed) == 1 and "没有写入权限" in failed[0] and str(out / target) in failed[0], shown
    assert ("[完成] 修竹社区" if force else "[沿用] 修竹社区") in shown and "内部错误" not in shown, shown
    digest = (out / W / "digest.html").read_text(encoding="utf-8")
    assert "报告生成失败" in digest and "海港社区" in digest
    _check_unchanged(before, _files(out), target, (f"{W}/manifest.json", f"{W}/digest.html"))
    assert _leftovers(out) == []
    monkeypatch.setattr(atomic, "_replace", os.replace)
    code, shown = _run(data, out, capsys)
    assert code == 0, shown
    assert "[完成] 海港社区" in shown and "[沿用] 修竹社区" in shown, shown
    assert _leftovers(out) == []


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "磁盘空间不足"), (errno.EDQUOT, "磁盘空间不足"),
                                         (errno.EACCES, "没有写入权限"), (errno.EPERM, "没有写入权限"),
                                         (errno.EROFS, "只读"), (errno.EIO, "无法写入")])
@pytest.mark.parametrize("writer", ["write_text", "atomic_path"])
def test_the_atomic_writer_says_what_went_wrong_and_keeps_the_old_file(tmp_path, monkeypatch, code, words, writer):
    target = tmp_path / "report.html"
    atomic.write_text(target, "old")

    def replace(tmp, path):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic, "_replace", replace)
    with pytest.raises(OutputError) as err:
        if writer == "write_text":
            atomic.write_text(target, "new")
        else:
            with atomic.atomic_path(target) as tmp:
                tmp.write_text("new")
    line = err.value.one_line()
    assert words in line and str(target) in line and "之前生成的报告保持不变" in line and "\n" not in line
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --- a real full disk and a real read-only folder (a small tmpfs; needs root and mount) ----------

@pytest.fixture
def small_disk(tmp_path):
    """Return a folder on a 3 MiB tmpfs mounted for this test, or skip where mount is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode:
        pytest.skip(f"mount failed: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the disk holding ``folder``; return the filler file."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                fh.write(b"\0")
        except OSError:
            pass
    return filler


def test_a_full_disk_is_one_clear_line_and_the_reports_stay(small_disk, inline_workers, capsys):
    data, out = small_disk / "data", small_disk / "out"
    shutil.copytree(TINY, data)
    assert _run(data, out, capsys)[0] == 0
    before = _files(out)
    filler = _fill(small_disk)
    code, shown = _run(data, out, capsys, "--force")
    assert code == 2, shown
    errors = [ln for ln in shown.splitlines() if "错误" in ln]
    assert len(errors) == 1 and "磁盘空间不足" in errors[0] and str(out) in errors[0], shown
    assert "内部错误" not in shown
    assert _files(out) == before
    assert _leftovers(out) == []
    filler.unlink()
    assert _run(data, out, capsys)[0] == 0


def test_a_read_only_output_folder_is_one_clear_line(small_disk, inline_workers, capsys):
    data, out = small_disk / "data", small_disk / "out"
    shutil.copytree(TINY, data)
    assert _run(data, out, capsys)[0] == 0
    before = _files(out)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        code, shown = _run(data, out, capsys, "--force")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert code == 2, shown
    errors = [ln for ln in shown.splitlines() if "错误" in ln]
    assert len(errors) == 1 and "没有写入权限" in errors[0] and str(out) in errors[0], shown
    assert _files(out) == before
    assert _run(data, out, capsys)[0] == 0


def test_a_folder_without_write_permission_is_one_clear_line(tmp_path, inline_workers, capsys, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(TINY, data)
    assert _run(data, out, capsys)[0] == 0
    before = _files(out)
    # chmod does not stop root (CI runs as root) and Windows has no POSIX modes: every output
    # write ends in atomic._replace, so refusing there is what a folder without permission does.
    from canvass.run import atomic

    def refuse(tmp, path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    monkeypatch.setattr(atomic, "_replace", refuse)
    try:
        code, shown = _run(data, out, capsys, "--force")
    finally:
        monkeypatch.undo()
    assert code == 2, shown
    assert "没有写入权限" in shown and "内部错误" not in shown, shown
    assert _files(out) == before


def test_papermill_meeting_a_full_disk_fails_the_task_as_a_write(tmp_path, monkeypatch):
    from canvass.run import engine
    from canvass.run.tasks import run_notebook_task

    def execute(notebook, output, *args, **kwargs):
        Path(output).write_bytes(b"{")  # the first bytes made it, then the disk was full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(engine, "execute", execute)
    executed = tmp_path / "internal" / W / "notebooks" / "digest.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text("previous")
    res = run_notebook_task({"notebook": "digest.ipynb", "parameters": {}, "week": W, "title": "t",
                             "executed": str(executed), "html": str(tmp_path / W / "digest.html")})
    assert res["status"] == "failed" and "磁盘空间不足" in res["output_error"] and str(executed) in res["error"]
    assert executed.read_text() == "previous"  # not the copy cut short
    assert [p.name for p in executed.parent.iterdir()] == ["digest.ipynb"]
