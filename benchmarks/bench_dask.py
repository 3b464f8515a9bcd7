"""The batch on a Dask cluster of real processes against the local executor, side by side.

Starts ``dask scheduler`` and two ``dask worker --nthreads 1`` processes on 127.0.0.1 (the
workers share this machine's disk, but the batch does not use it: tasks carry their inputs
and return their outputs, as on a cluster without a shared disk), then times
``run_reports.py --force`` with ``--jobs 2`` locally and with ``--scheduler``, alternating,
``--runs`` times each. The cluster is started once and kept warm between runs, as a real one
is; the local executor starts its workers in every run, as it does.

    .venv/bin/python benchmarks/bench_dask.py --communities 20 --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WEEK = "2023-W37"


def _timed(cmd: list) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--communities", type=int, default=20)
    ap.add_argument("--households", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "data" / "sample"))
    from generate import generate  # the sample generator, with a size parameter

    work = args.workdir or Path(tempfile.mkdtemp(prefix="canvass-bench-dask-"))
    data = work / f"data-{args.communities}"
    if not data.exists():
        generate(data, n_communities=args.communities, households=args.households, messy=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sched = work / "scheduler.json"
    sched.unlink(missing_ok=True)
    procs = [subprocess.Popen([PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(sched), "--no-dashboard"], env=env, start_new_session=True,
                              stderr=subprocess.DEVNULL)]
    try:
        for n in range(2):
            procs.append(subprocess.Popen([PY, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched),
                                           "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                                           "--memory-limit", "0", "--name", f"bench-{n}"],
                                          env=env, start_new_session=True, stderr=subprocess.DEVNULL))
        from dask.distributed import Client

        with Client(scheduler_file=str(sched), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        base = [PY, "run_reports.py", "--data", str(data), "--week", WEEK, "--jobs", "2", "--force"]
        # Fill the cleaned-data cache and warm the workers' kernels once: every timed run is then
        # the same work (notebooks, tables, digest), on both executors.
        _timed([*base, "--out", str(work / "dask-out"), "--scheduler", address])
        _timed([*base, "--out", str(work / "local-out")])
        times: dict = {"local": [], "dask": []}
        for r in range(args.runs):
            for name, extra in (("local", []), ("dask", ["--scheduler", address])):
                out = work / f"{name}-out"
                times[name].append(_timed([*base, "--out", str(out), *extra]))
            print(f"run {r + 1}: local {times['local'][-1]:.1f} s, dask {times['dask'][-1]:.1f} s", flush=True)
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    local, dask = statistics.median(times["local"]), statistics.median(times["dask"])
    print(f"(N={args.communities}, {args.households} households, median of {args.runs} runs, 2 jobs / 2 workers)")
    print(f"local={local:.1f}s dask={dask:.1f}s dask/local={dask / local:.2f}")


if __name__ == "__main__":
    main()
