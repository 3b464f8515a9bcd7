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
