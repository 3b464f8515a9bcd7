"""Executors are replaceable: the same batch runs on local workers or on a Dask cluster."""

from __future__ import annotations

import json

import pytest

from canvass.run.executors import EXECUTORS, LocalExecutor

from .conftest import SAMPLE_WEEK, run_cli


def _square(x):
    return {"status": "ok", "value": x * x}


def test_registry_names_both_executors():
    assert {"local", "dask"} <= set(EXECUTORS)


def test_local_executor_yields_every_result():
    ex = LocalExecutor(2, prewarm=False)
    try:
        got = dict(ex.run(_square, [1, 2, 3, 4]))
    finally:
        ex.close()
    assert {i: r["value"] for i, r in got.items()} == {0: 1, 1: 4, 2: 9, 3: 16}


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
