"""Warm kernels: reused across notebooks without leaking state; timeouts recover."""

from __future__ import annotations

import nbformat
import pytest
from nbclient.exceptions import CellTimeoutError

from canvass.run import engine
from canvass.run.tasks import run_notebook_task

pytestmark = pytest.mark.slow


def _notebook(path, source: str):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("name = 'a'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


LEAK_PROBE = """\
import sys, matplotlib, matplotlib.pyplot as plt
leaked = [v for v in ('secret', 'df') if v in globals()]
print('LEAKED', leaked)
print('FIGURES', len(plt.get_fignums()))
print('DPI', matplotlib.rcParams['figure.dpi'])
print('HISTORY', get_ipython().history_manager.enabled)
secret = name
df = object()
plt.figure()
matplotlib.rcParams['figure.dpi'] = 42
"""


def _text(nb) -> str:
    return "".join(o.get("text", "") for o in nb.cells[-1].outputs)


def test_reused_kernel_leaks_no_state_and_keeps_no_input_history(tmp_path, monkeypatch):
    # IPython would write every cell's source to an SQLite file in the user's profile (and fail
    # or lock on a read-only or shared home); a batch kernel keeps none, also after a reset.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    path = _notebook(tmp_path / "probe.ipynb", LEAK_PROBE)
    engine.discard_kernel()
    try:
        first = engine.execute(path, tmp_path / "1.ipynb", {"name": "七一社区"}, timeout=60)
        kernel = engine.warm_kernel()
        pid = kernel.km.provisioner.pid if kernel.km.provisioner else None
        second = engine.execute(path, tmp_path / "2.ipynb", {"name": "海港社区"}, timeout=60)
        assert engine.warm_kernel().runs == 2  # really the same kernel
        if pid is not None:
            assert engine.warm_kernel().km.provisioner.pid == pid
    finally:
        engine.discard_kernel()
    for nb in (first, second):
        text = _text(nb)
        assert "LEAKED []" in text, text           # variables of the previous run are undefined
        assert "FIGURES 0" in text, text           # figures were closed
        assert "DPI 42" not in text, text          # matplotlib settings were restored
        assert "HISTORY False" in text, text       # no input history, before and after the reset
    assert not list((tmp_path / "ipython").rglob("history.sqlite"))
    # Execution counts are those of a fresh kernel.
    assert [c.execution_count for c in first.cells if c.cell_type == "code"] == \
           [c.execution_count for c in second.cells if c.cell_type == "code"]


def test_timeout_fails_the_task_and_the_next_run_recovers(tmp_path):
    hang = _notebook(tmp_path / "hang.ipynb", "import time\ntime.sleep(60)")
    ok = _notebook(tmp_path / "ok.ipynb", "print('fine', name)")
    base = {"week": "2023-W37", "title": "t", "warm": True}
    try:
        res = run_notebook_task({**base, "notebook": str(hang), "parameters": {"name": "x"}, "timeout": 2,
                                 "executed": str(tmp_path / "o1.ipynb"), "html": str(tmp_path / "o1.html")})
        assert res["status"] == "failed" and res["error"] == "timeout"
        res = run_notebook_task({**base, "notebook": str(ok), "parameters": {"name": "y"}, "timeout": 30,
                                 "executed": str(tmp_path / "o2.ipynb"), "html": str(tmp_path / "o2.html")})
        assert res["status"] == "ok", res
        assert (tmp_path / "o2.html").is_file()
    finally:
        engine.discard_kernel()


def test_execute_raises_timeout_error(tmp_path):
    hang = _notebook(tmp_path / "hang.ipynb", "import time\ntime.sleep(60)")
    try:
        with pytest.raises(CellTimeoutError):
            engine.execute(hang, tmp_path / "o.ipynb", {}, timeout=1)
        assert engine._current is None  # the stuck kernel was discarded
    finally:
        engine.discard_kernel()


GC_PROBE = """\
import gc, weakref
print('FROZEN', gc.get_freeze_count())
class Node:
    pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle: only the collector can free it
probe = weakref.ref(a)
del a, b
gc.collect()
print('CYCLE FREED', probe() is None)
"""


def test_the_warm_up_is_hidden_from_the_collector_and_reports_are_still_collected(tmp_path):
    # The warm-up's objects are frozen (gc.freeze), so the full collection of every reset does
    # not walk the libraries' ~300,000 objects again; what a report makes is collected as before.
    path = _notebook(tmp_path / "gc.ipynb", GC_PROBE)
    engine.discard_kernel()
    try:
        engine.warm_kernel().start()
        text = _text(engine.execute(path, tmp_path / "1.ipynb", {"name": "七一社区"}, timeout=60))
    finally:
        engine.discard_kernel()
    frozen = int(text.split("FROZEN ")[1].split()[0])
    assert frozen > 10_000, text  # pandas and matplotlib alone are far more than this
    assert "CYCLE FREED True" in text, text


def test_workers_do_not_build_rfc3987_syntaxs_parsers_until_something_checks_an_iri():
    # papermill -> nbformat -> jsonschema imports rfc3987_syntax, which builds ~35 Lark parsers
    # on import (1 s of CPU per worker). canvass.run defers it; the checker still answers.
    import subprocess
    import sys

    code = """
import sys
from canvass.run import engine
print("BUILT", "rfc3987_syntax.syntax_helpers" in sys.modules)
from jsonschema import _format
print("CHECKS", _format.is_iri("http://例子.测试/路径"), _format.is_iri("not an iri"))
print("LOADED", "rfc3987_syntax.syntax_helpers" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8",
                         check=True).stdout
    assert "BUILT False" in out, out
    assert "CHECKS True False" in out, out
    assert "LOADED True" in out, out


# The batch's own workers run their notebooks in an in-process kernel (engine.InProcessKernel):
# these run real worker processes (executors.LocalExecutor), as the batch does.

IN_PROCESS_PROBE = LEAK_PROBE + """\
import os
print('PID', os.getpid())
print('IN-PROCESS', get_ipython().kernel.__class__.__mro__[1].__module__)
print('TWO PRINTS', end=' '); print('IN ONE CELL')
import threading
print('MAIN THREAD', threading.current_thread() is threading.main_thread())
"""


def _tasks(tmp_path, *runs):
    base = {"week": "2023-W37", "title": "t", "warm": True}
    return [{**base, "notebook": str(nb), "parameters": {"name": name}, "timeout": timeout,
             "executed": str(tmp_path / f"o{i}.ipynb"), "html": str(tmp_path / f"o{i}.html")}
            for i, (nb, name, timeout) in enumerate(runs)]


def _run_in_worker(tasks, jobs: int = 1) -> list[dict]:
    from canvass.run.executors import LocalExecutor

    ex = LocalExecutor(jobs)
    try:
        results = dict(ex.run(run_notebook_task, tasks))
    finally:
        ex.close()
    return [results[i] for i in range(len(tasks))]


def _printed(path) -> str:
    return _text(nbformat.read(str(path), as_version=4))


def test_worker_notebooks_run_in_its_own_process_and_leak_no_state(tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    probe = _notebook(tmp_path / "probe.ipynb", IN_PROCESS_PROBE)
    results = _run_in_worker(_tasks(tmp_path, (probe, "七一社区", 60), (probe, "海港社区", 60)))
    assert [r["status"] for r in results] == ["ok", "ok"], results
    first, second = _printed(tmp_path / "o0.ipynb"), _printed(tmp_path / "o1.ipynb")
    for text in (first, second):
        assert "IN-PROCESS ipykernel.inprocess.ipkernel" in text, text
        assert "LEAKED []" in text and "FIGURES 0" in text and "HISTORY False" in text, text
        assert "DPI 42" not in text, text
        assert "TWO PRINTS IN ONE CELL" in text, text  # a cell's output is all there before it ends
        assert "MAIN THREAD True" in text, text  # as in a kernel process: signals, SIGINT work
    # The same worker process ran both: no kernel process was started for either.
    assert first.split("PID ")[1].split()[0] == second.split("PID ")[1].split()[0]
    assert not list((tmp_path / "ipython").rglob("history.sqlite"))
    assert (tmp_path / "o1.html").read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_a_timed_out_cell_is_interrupted_and_its_worker_replaced(tmp_path):
    # Each notebook writes its process id to the file named by its parameter.
    record = "import os, pathlib\npathlib.Path(name).write_text(str(os.getpid()))\n"
    hang = _notebook(tmp_path / "hang.ipynb", record + "import time\ntime.sleep(60)")
    ok = _notebook(tmp_path / "ok.ipynb", record + "print('fine')")
    results = _run_in_worker(_tasks(tmp_path, (hang, str(tmp_path / "pid0"), 2), (ok, str(tmp_path / "pid1"), 30)))
    assert results[0]["status"] == "failed" and results[0]["error"] == "timeout", results[0]
    assert results[1]["status"] == "ok" and "fine" in _printed(tmp_path / "o1.ipynb"), results[1]
    # The interrupt reached the cell (KeyboardInterrupt in it, as a kernel process's interrupt
    # gives), and the interrupted worker was replaced: the next notebook ran in a new process.
    stopped = nbformat.read(str(tmp_path / "o0.ipynb"), as_version=4).cells[-1].outputs
    assert [o.get("ename") for o in stopped if o.output_type == "error"] == ["KeyboardInterrupt"], stopped
    assert (tmp_path / "pid0").read_text() != (tmp_path / "pid1").read_text()


def test_a_timed_out_cell_that_ignores_the_interrupt_still_ends_as_a_timeout(tmp_path):
    # A cell that ignores SIGINT cannot be interrupted: after engine.INTERRUPT_GRACE the worker
    # reports the timeout and exits, and a new worker runs the next notebook.
    deaf = _notebook(tmp_path / "deaf.ipynb",
                     "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)")
    ok = _notebook(tmp_path / "ok.ipynb", "print('fine', name)")
    results = _run_in_worker(_tasks(tmp_path, (deaf, "x", 1), (ok, "y", 30)))
    assert results[0]["status"] == "failed" and results[0]["error"] == "timeout", results[0]
    assert "无法中断" in results[0]["detail"]
    assert results[1]["status"] == "ok" and "fine y" in _printed(tmp_path / "o1.ipynb"), results[1]


def test_canvass_kernel_process_gives_the_workers_kernel_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("CANVASS_KERNEL", "process")  # inherited by the spawned worker
    probe = _notebook(tmp_path / "probe.ipynb", "import os, sys\nprint('PPID', os.getppid(), sys.argv[0])")
    results = _run_in_worker(_tasks(tmp_path, (probe, "x", 60)))
    assert results[0]["status"] == "ok", results
    assert "ipykernel_launcher" in _printed(tmp_path / "o0.ipynb")
