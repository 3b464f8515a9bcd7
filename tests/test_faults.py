"""Crash safety, locking and timeouts of the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from canvass.run.atomic import OutputLock, write_text

from .conftest import ROOT, SAMPLE_WEEK, run_cli

pytestmark = pytest.mark.slow


def _start(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run_reports.py"), "--out", str(out), "--week", SAMPLE_WEEK,
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})


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


def test_sigkill_mid_run_never_leaves_half_written_outputs(tmp_path):
    out = tmp_path / "out"
    assert run_cli("--out", str(out), "--week", SAMPLE_WEEK).returncode == 0
    _complete(out)
    for delay in (2.0, 6.0, 9.0):
        proc = _start(out, "--force")
        time.sleep(delay)
        children = psutil.Process(proc.pid).children(recursive=True)  # workers and their kernels
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _complete(out)
        # Orphaned workers notice the dead batch and stop, taking their kernels with them.
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline()[-1:] for p in alive]
    # The next batch runs normally: the dead batch's lock is gone and its temp files are removed.
    rerun = run_cli("--out", str(out), "--week", SAMPLE_WEEK)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    _complete(out)
    leftovers = [p for p in out.rglob(".*") if p.is_file() and not p.name.startswith(".canvass")]
    assert leftovers == []


def test_hung_notebook_times_out_and_the_batch_goes_on(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("--out", str(out), "--week", SAMPLE_WEEK, "-p", "hang_community", "福寿社区",
                   "-p", "execution_timeout", "5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["communities"]["福寿社区"]["status"] == "failed"
    assert manifest["communities"]["福寿社区"]["error"] == "timeout"
    assert sum(o["status"] == "ok" for o in manifest["communities"].values()) == 4
    assert (out / SAMPLE_WEEK / "digest.html").is_file()
