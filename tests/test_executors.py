"""Executors are replaceable: the same batch runs on local workers or on a Dask cluster."""

from __future__ import annotations

import json

import pytest

from canvass.run.executors import EXECUTORS, LocalExecutor

from .conftest import SAMPLE_WEEK, run_cli


def _square(x):
    import gc

    return {"status": "ok", "value": x * x, "frozen": gc.get_freeze_count()}


def test_registry_names_both_executors():
    assert {"local", "dask"} <= set(EXECUTORS)


def test_local_executor_yields_every_result():
    ex = LocalExecutor(2, prewarm=False)
    try:
        got = dict(ex.run(_square, [1, 2, 3, 4]))
    finally:
        ex.close()
    assert {i: r["value"] for i, r in got.items()} == {0: 1, 1: 4, 2: 9, 3: 16}
    # Each worker moved its imported libraries out of the collector's sight before its first task.
    assert all(r["frozen"] > 10_000 for r in got.values()), got


@pytest.mark.slow
def test_batch_runs_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "out"
        proc = run_cli("--out", str(out), "--week", SAMPLE_WEEK, "--community", "港兴社区",
                       "--community", "七一社区", "--scheduler", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["executor"] == "dask"
    assert manifest["communities"]["港兴社区"]["status"] == "ok"
    assert (out / SAMPLE_WEEK / "digest.html").is_file()


class _PlainExecutor:
    """An executor with only ``run``: its workers see the batch's disk."""

    def __init__(self):
        self.calls = []

    def run(self, func, args):
        self.calls.append(func)
        yield from ((i, {"status": "ok", "arg": a}) for i, a in enumerate(args))


def test_executors_without_their_own_notebook_runner_run_tasks_as_they_are():
    from canvass.run.executors import run_notebooks
    from canvass.run.tasks import run_notebook_task

    ex = _PlainExecutor()
    assert dict(run_notebooks(ex, ["a", "b"])) == {0: {"status": "ok", "arg": "a"}, 1: {"status": "ok", "arg": "b"}}
    assert ex.calls == [run_notebook_task]


def _remote_task(tmp_path):
    return {"kind": "community", "community": "海港社区", "slug": "haigang-shequ",
            "html": str(tmp_path / "W" / "communities" / "haigang-shequ.html"),
            "executed": str(tmp_path / "internal" / "notebooks" / "haigang-shequ.ipynb"),
            "followup": str(tmp_path / "internal" / "followup" / "haigang-shequ.xlsx")}


def test_a_remote_outcome_is_written_by_the_batch_with_its_checksums(tmp_path):
    import hashlib

    from canvass.run.remote import write_back

    task = _remote_task(tmp_path)
    files = {"html": b"<html>report</html>", "executed": b'{"cells": []}', "followup": b"PK workbook"}
    outcome = write_back(task, {"status": "ok", "error": "", "seconds": 1.5, "followup_rows": 3, "files": files})
    for role, data in files.items():
        assert open(task[role], "rb").read() == data
    assert outcome == {"status": "ok", "error": "", "seconds": 1.5, "followup_rows": 3,
                       "outputs": {role: hashlib.sha256(data).hexdigest() for role, data in files.items()}}


def test_a_full_disk_on_the_batch_side_fails_that_community_and_keeps_its_old_files(tmp_path, monkeypatch):
    import errno
    import os
    from pathlib import Path

    from canvass.run import atomic
    from canvass.run.remote import write_back

    task = _remote_task(tmp_path)
    for role in ("html", "executed"):
        Path(task[role]).parent.mkdir(parents=True)
        Path(task[role]).write_bytes(b"last week")
    real = atomic._replace

    def replace(tmp, path):
        if Path(path).suffix == ".html":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
        return real(tmp, path)

    monkeypatch.setattr(atomic, "_replace", replace)
    outcome = write_back(task, {"status": "ok", "error": "", "seconds": 1.0,
                                "files": {"html": b"new", "executed": b"new", "followup": b"new"}})
    assert outcome["status"] == "failed" and "outputs" not in outcome
    assert "磁盘空间不足" in outcome["output_error"] and "haigang-shequ.html" in outcome["output_error"]
    # the report and its executed copy stay as they were, together
    assert Path(task["html"]).read_bytes() == b"last week"
    assert Path(task["executed"]).read_bytes() == b"last week"
    assert [p.name for p in Path(task["html"]).parent.iterdir()] == ["haigang-shequ.html"]  # no temp file left


def test_only_the_starts_that_did_not_finish_count_against_a_task():
    """A start that finished is taken off the task's record: when its worker dies holding the
    result and the scheduler computes it again, that start is not a third attempt."""
    distributed = pytest.importorskip("distributed")
    from canvass.run import remote

    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        q = distributed.Queue("canvass-attempts-test", client=client)
        assert remote.begin_attempt(q.name) == 1  # first start: its worker dies (no end_attempt)
        assert remote.begin_attempt(q.name) == 2  # the retry, which finishes
        remote.end_attempt(q.name)
        assert q.qsize() == 1  # the batch's check: one start died, a resubmission is allowed
        assert remote.begin_attempt(q.name) == 2  # computed again after its result was lost: allowed
        remote.end_attempt(q.name)
        assert remote.begin_attempt(q.name) == 2  # a second death would be the limit
        assert remote.begin_attempt(q.name) == remote.MAX_ATTEMPTS + 1  # a third death: refused
        q.close()


def test_a_remote_task_that_finishes_takes_its_start_off_the_record(monkeypatch):
    distributed = pytest.importorskip("distributed")
    from pathlib import Path

    from canvass.run import remote, tasks

    def fake_run(task):
        Path(task["html"]).write_bytes(b"<html>ok</html>")
        return {"status": "ok", "error": ""}

    monkeypatch.setattr(tasks, "run_notebook_task", fake_run)
    payload = {"task": {"kind": "community", "community": "海港社区", "slug": "haigang-shequ", "notebook": "nb.ipynb",
                        "html": "x.html", "executed": "x.ipynb", "parameters": {"data_dir": "data"}},
               "files": {}, "sample": False}
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        q = distributed.Queue("canvass-attempts-finish", client=client)
        q.put(1)  # one earlier start whose worker died
        result = client.submit(remote.run_remote, payload, {}, q.name, pure=False).result()
        assert result["files"] == {"html": b"<html>ok</html>"}
        assert q.qsize() == 1  # the finished start is off the record; the death stays on it
        q.put(2)  # a second death
        assert client.submit(remote.run_remote, payload, {}, q.name, pure=False).result() == remote.died_outcome()
        q.close()
