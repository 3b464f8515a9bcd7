"""Shared fixtures: the sample batch is run once per test session (also across xdist workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SAMPLE_WEEK = "2023-W37"
# Notebooks that stand in for the product's in fault tests (BatchOptions.community_notebook).
FIXTURES = ROOT / "tests" / "notebooks"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Make ``--dist loadgroup`` honour ``xdist_group`` marks again.

    pytest-xdist groups a test by appending ``@group`` to ``item._nodeid``; since pytest 9 the
    node id is derived from ``item._id``, so that suffix is lost and every "group" was spread
    over both workers (each worker then made the group's module fixtures, or the whole
    hostile-input run, again). Test-only: sets the same suffix the way this pytest reads it."""
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers with --dist loadgroup
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        if names and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(names))}")


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600, base_env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``python run_reports.py ARGS`` in a subprocess and return the completed process.

    From a thread, pass ``base_env`` (a copy of ``os.environ`` taken on the main thread):
    pytest sets and deletes ``PYTEST_CURRENT_TEST`` while tests run, so reading ``os.environ``
    from another thread can fail with ``KeyError`` halfway through the copy."""
    env = {**(os.environ if base_env is None else base_env), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, str(ROOT / "run_reports.py"), *args], cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout, env=env)


@pytest.fixture(scope="session")
def sample_reports(tmp_path_factory) -> Path:
    """Return the --out folder of one batch run on the bundled sample (week 2023-W37)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist every worker has its own base temp: share one batch through the parent folder.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "sample-batch"
    with FileLock(str(shared) + ".lock"):
        done = shared / "done.json"
        if not done.is_file():
            proc = run_cli("--data", str(SAMPLE), "--out", str(shared / "out"), "--week", SAMPLE_WEEK, "--jobs", "2")
            (shared).mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}),
                            encoding="utf-8")
    result = json.loads(done.read_text(encoding="utf-8"))
    assert result["rc"] == 0, result["stdout"] + result["stderr"]
    return shared / "out"


@pytest.fixture(scope="session")
def sample_cleaned():
    """Return the sample data cleaned in-process."""
    from canvass.config import load_config
    from canvass.ingest.clean import clean_folder

    return clean_folder(SAMPLE, load_config(SAMPLE))


class InlineExecutor:
    """Runs notebook tasks in the test process (so a test's patches reach them), one at a time,
    in this process's warm kernel: a fast stand-in for the local worker processes."""

    def __init__(self, jobs: int, **_):
        pass

    def run(self, func, args):
        for index, arg in enumerate(args):
            try:
                res = func(arg)
            except Exception as exc:  # as a worker process reports it
                res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            yield index, res

    def close(self, abort: bool = False) -> None:
        pass


@pytest.fixture(scope="session")
def _inline_kernel():
    """Shut the test process's warm kernel down at the end of the session."""
    yield
    from canvass.run import engine

    engine.discard_kernel()


@pytest.fixture
def inline_workers(monkeypatch, _inline_kernel):
    """Make the batch's "local" executor run tasks in this process (see InlineExecutor)."""
    from canvass.run import executors

    monkeypatch.setitem(executors.EXECUTORS, "local", InlineExecutor)
    return InlineExecutor
