"""Crash safety, locking and timeouts of the batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from canvass import cli
from canvass.run.atomic import OutputLock, write_text
from canvass.run.batch import run_batch
from canvass.run.plan import BatchOptions

from .conftest import FIXTURES, ROOT, SAMPLE, SAMPLE_WEEK, run_cli

pytestmark = pytest.mark.slow


def _start(out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run_reports.py"), "--out", str(out), "--week", SAMPLE_WEEK,
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})})


def _complete(out: Path) -> None:
    """Every final output is whole: parseable and properly ended."""
    w = out / SAMPLE_WEEK
    for html in [w / "digest.html", *w.glob("communities/*.html"), out / "index.html"]:
        text = html.read_text(encoding="utf-8")
        assert text.rstrip().endswith("</html>"), html
    json.loads((w / "manifest.json").read_text(encoding="utf-8"))
    m = pd.read_csv(w / "metrics.csv", encoding="utf-8-sig")
    assert len(m) == 6


def test_atomic_write_replaces_whole_files(tmp_path):
    target = tmp_path / "a.html"
    write_text(target, "old</html>")
    write_text(target, "new</html>")
    assert target.read_text() == "new</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["a.html"]


def test_lock_is_exclusive_and_names_the_holder(tmp_path):
    with OutputLock(tmp_path):
        code = ("import sys; sys.path.insert(0, %r)\n"
                "from canvass.run.atomic import OutputLock\n"
                "from canvass.errors import LockError\n"
                "try:\n    OutputLock(%r).__enter__()\nexcept LockError as e:\n    print(e.one_line()); sys.exit(2)\n"
                % (str(ROOT), str(tmp_path)))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8")
        assert proc.returncode == 2
        assert str(os.getpid()) in proc.stdout
    with OutputLock(tmp_path):  # released: can be taken again
        pass


def test_stale_lock_from_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".canvass.lock").write_text("")
    (tmp_path / ".canvass.lock.pid").write_text(f"{dead.pid}\n")
    with OutputLock(tmp_path) as lock:
        assert lock.holder() == os.getpid()


# Holds the output lock without recording itself, like a batch that has just taken the lock
# while the pid file of a killed batch is still there.
_UNRECORDED_HOLDER = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def test_lock_held_while_a_dead_pid_is_recorded_honours_the_wait_deadline(tmp_path):
    import threading

    from canvass.errors import LockError

    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    (tmp_path / ".canvass.lock.pid").write_text(f"{killed.pid}\n")  # left by a killed batch
    holder = subprocess.Popen([sys.executable, "-c", _UNRECORDED_HOLDER, str(tmp_path / ".canvass.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        outcome = {}

        def take():
            try:
                with OutputLock(tmp_path, wait=0.5) as lock:
                    outcome["holder"] = lock.holder()
            except LockError as exc:
                outcome["error"] = exc.one_line()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        waiter.join(timeout=60)
        assert not waiter.is_alive(), "the dead-holder branch ignored the --lock-wait deadline"
        assert "holder" not in outcome, "took a lock another process holds"
        assert str(killed.pid) in outcome["error"] and "已结束" in outcome["error"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # Once nobody holds it, the stale lock is taken over and the pid file names the new holder.
    with OutputLock(tmp_path, wait=60) as lock:
        assert lock.holder() == os.getpid()


def test_two_batches_on_one_output_folder_do_not_interleave(tmp_path):
    out = tmp_path / "out"
    first = _start(out, "--force")
    try:
        deadline = time.time() + 60
        while not (out / ".canvass.lock.pid").exists():
            assert time.time() < deadline and first.poll() is None
            time.sleep(0.1)
        second = run_cli("--out", str(out), "--week", SAMPLE_WEEK)
        assert second.returncode == 2
        assert "正在写入" in second.stdout + second.stderr and "Traceback" not in second.stdout + second.stderr
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0
    _complete(out)


def _running(p: psutil.Process) -> bool:
    """An exited process is gone even while it waits, a zombie, for whoever reaps orphans here."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # includes ZombieProcess
        return False


def _wait_until(condition, what: str, limit: float = 180.0) -> None:
    """Poll ``condition`` until it holds; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _tree(proc: subprocess.Popen) -> list:
    try:
        return psutil.Process(proc.pid).children(recursive=True)  # workers and their kernels
    except psutil.NoSuchProcess:
        return []


def _command(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return f"pid {p.pid}"


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no zombie processes")
def test_an_exited_process_not_yet_reaped_is_not_alive():
    from canvass.run.atomic import _pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: it stays a zombie
    try:
        zombie = psutil.Process(child.pid)
        _wait_until(lambda: zombie.status() == psutil.STATUS_ZOMBIE, "the child to exit")
        assert psutil.pid_exists(child.pid)  # what the old checks went by
        assert not _running(zombie)
        assert not _pid_alive(child.pid)
    finally:
        child.wait()


def test_sigkill_mid_run_never_leaves_half_written_outputs(tmp_path, sample_reports, inline_workers, capsys):
    out = tmp_path / "out"
    # The previous complete outputs: a copy of the session's sample batch (same data folder).
    shutil.copytree(sample_reports, out)
    _complete(out)
    reports = sorted((out / SAMPLE_WEEK / "communities").glob("*.html"))

    def kernels(proc):
        return [p for p in _tree(proc) if "ipykernel_launcher" in _command(p)]

    def a_report_rewritten(before):
        return lambda: any(r.stat().st_mtime_ns != before[r] for r in reports if r.exists())

    # Kill points by what the batch is doing, not by elapsed time. The workers' kernels run in
    # the workers themselves (engine.InProcessKernel) and cannot be seen from here: the kill
    # while kernel processes run is made with CANVASS_KERNEL=process, which starts them.
    moments = {
        "workers started": lambda proc: lambda: bool(_tree(proc)),
        "a kernel process is running": lambda proc: lambda: bool(kernels(proc)),
        "a report was replaced": lambda proc: a_report_rewritten({r: r.stat().st_mtime_ns for r in reports}),
    }
    for moment, when in moments.items():
        proc = _start(out, "--force", env={"CANVASS_KERNEL": "process"} if "kernel" in moment else None)
        try:
            _wait_until(when(proc), moment)
            children = _tree(proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        _complete(out)
        # Orphaned workers notice the dead batch and stop, taking their kernels with them.
        deadline = time.monotonic() + 120
        while any(_running(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [p for p in children if _running(p)]
        assert not alive, (moment, [_command(p)[-120:] for p in alive])
    # The next batch runs normally: the dead batch's lock is gone and its temp files are removed.
    # (In this process: the killed batches were real processes, the one after them needs not be.)
    code = cli.main(["--data", str(SAMPLE), "--out", str(out), "--week", SAMPLE_WEEK])
    assert code == 0, capsys.readouterr()
    _complete(out)
    leftovers = [p for p in out.rglob(".*") if p.is_file() and not p.name.startswith(".canvass")]
    assert leftovers == []


def test_hung_notebook_times_out_and_the_batch_goes_on(tmp_path):
    out = tmp_path / "out"
    # A fixture notebook whose cell never ends for 福寿社区; --timeout 5 is BatchOptions.timeout.
    result = run_batch(BatchOptions(data_dir=SAMPLE, out_dir=out, week=SAMPLE_WEEK, timeout=5,
                                    community_notebook=FIXTURES / "community_hangs.ipynb"))
    assert result.exit_code == 1, result.outcomes
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["communities"]["福寿社区"]["status"] == "failed"
    assert manifest["communities"]["福寿社区"]["error"] == "timeout"
    assert sum(o["status"] == "ok" for o in manifest["communities"].values()) == 4
    assert (out / SAMPLE_WEEK / "digest.html").is_file()
