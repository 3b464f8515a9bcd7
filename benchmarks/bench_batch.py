"""Benchmark the weekly batch against its anchors and the lean floor, side by side in one run.

    python benchmarks/bench_batch.py                       # N = 20 communities x 3,000 households, 3 runs
    python benchmarks/bench_batch.py --communities 5,20 --runs 3
    python benchmarks/bench_batch.py --communities 3 --runs 1 --skip-ploomber --skip-dask   # a smoke run
    python benchmarks/bench_batch.py --district            # 50 x 20 x 1,500 (bench_district.py; opt-in)

For each N it generates a synthetic sub-district (data/sample/generate.py), then times,
on the same data and week, each the median of --runs runs (interleaved, so a noisy
neighbour hits them all alike):
  naive     papermill CLI then `jupyter nbconvert --to html --no-input`, per community, sequentially;
  naive2    the same commands two at a time (`xargs -P 2`);
  ploomber  Ploomber 0.23.3's Parallel executor (2 processes) running the same notebook as a grid
            over the communities; Ploomber lives in its own venv in the work folder
            (W/ploomber-venv, the project's dependencies installed from ROOT into it, and
            PYTHONPATH=ROOT so that it runs this checkout's code), never in the project's;
  batch     run_reports.py --force (every output: reports, digest, metrics, staff lists, images);
  rerun     the batch again with nothing changed (no --force: everything is reused);
  rerun1    the batch again after one community's visits file gained a row (then restored);
  rerun1c   the same change again after a run on the restored file: the changed state's cleaned
            tables are in the cache then (a file put back and changed again, another -p);
  dask      the batch with --force on a local Dask cluster of 2 workers (one thread each)
            that this script starts before timing, fresh for every run (so kernels start cold);
  floor     benchmarks/floor.py: the same files by plain function calls, as lean as it gets.
Wall time and peak memory (PSS summed over the process tree) are printed; the last line is
`naive/batch=… naive2/batch=… ploomber/batch=… batch/floor=… rerun/full=… rerun1/full=… rerun1c/full=… dask/local=…`
for scripts (nan where an anchor was skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WEEK = "2023-W37"


def _footprint(p: psutil.Process) -> int:
    # PSS shares pages between processes fairly (a forked child's copy-on-write pages are
    # not counted twice); fall back to RSS where PSS is not available.
    try:
        return p.memory_full_info().pss
    except (psutil.Error, AttributeError):
        return p.memory_info().rss


def measure(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run ``cmd``; return (seconds, peak memory (PSS) of its whole process tree in MiB)."""
    err = tempfile.TemporaryFile()  # a file, not a pipe: a chatty command must not block on a full pipe
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, env=env)
    peak = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(_footprint(p) for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.5)  # reading PSS (smaps) costs CPU: poll gently so the measurement does not slow the run
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0,):
        err.seek(0)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err.read().decode()[-3000:]}")
    return seconds, peak / 2**20


def _naive_commands(data: Path, out: Path, communities: list[str]) -> list[str]:
    """One shell line per community: papermill, then nbconvert of the executed copy."""
    out.mkdir(parents=True, exist_ok=True)
    return [f"'{PY}' -m papermill notebooks/community_report.ipynb '{out / f'c{i}.ipynb'}' -p community '{c}' "
            f"-p data_dir '{data}' -p week {WEEK} --no-progress-bar >/dev/null 2>&1 && "
            f"'{PY}' -m jupyter nbconvert --to html --no-input '{out / f'c{i}.ipynb'}' >/dev/null 2>&1"
            for i, c in enumerate(communities)]


def naive_loop(data: Path, out: Path, communities: list[str], env: dict, parallel: int = 1) -> tuple[float, float]:
    """The analyst's alternative: one papermill and one nbconvert process per community.

    ``parallel`` > 1 runs the communities that many at a time with ``xargs -P``.
    """
    commands = _naive_commands(data, out, communities)
    if parallel == 1:
        script = out.parent / "naive.sh"
        script.write_text("set -e\n" + "\n".join(commands) + "\n", encoding="utf-8")
        return measure(["bash", str(script)], env)
    scripts = []
    for i, line in enumerate(commands):
        scripts.append(out / f"c{i}.sh")
        scripts[-1].write_text("set -e\n" + line + "\n", encoding="utf-8")
    listing = out.parent / "naive2.txt"
    listing.write_text("\n".join(str(p) for p in scripts) + "\n", encoding="utf-8")
    return measure(["bash", "-c", f"xargs -P {parallel} -n 1 bash < '{listing}'"], env)


PLOOMBER = "ploomber==0.23.3"


def ploomber_venv(work: Path) -> tuple[Path | None, str]:
    """Return (the ploomber executable, "") or (None, why it was skipped); install on first use.

    The venv is the benchmark's own (W/ploomber-venv): Ploomber and the project's
    dependencies are installed into it from PyPI and ROOT (``pip install ROOT``); the runs set
    PYTHONPATH=ROOT so that its kernels import this checkout's canvass.
    """
    venv = work / "ploomber-venv"
    exe = venv / ("Scripts" if os.name == "nt" else "bin") / "ploomber"
    ok = venv / ".installed"
    if ok.is_file() and exe.is_file():
        return exe, ""
    pip = venv / ("Scripts" if os.name == "nt" else "bin") / "pip"
    try:
        if not pip.is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        for args in ([PLOOMBER, "papermill", "ipykernel"], [str(ROOT)]):
            subprocess.run([str(pip), "install", "-q", *args], check=True, capture_output=True, timeout=1800)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        tail = getattr(exc, "stderr", b"") or b""
        why = (tail.decode(errors="replace").strip().splitlines() or [str(exc)])[-1]
        return None, f"pip install {PLOOMBER} into {venv} failed: {why}"
    ok.write_text(PLOOMBER + "\n", encoding="utf-8")
    return exe, ""


def ploomber_spec(data: Path, out: Path, communities: list[str], folder: Path) -> Path:
    """Write pipeline.yaml: the community notebook as a grid over the communities, Parallel with 2 processes."""
    import nbformat
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    # Ploomber wants ``upstream`` and ``product`` declared in the parameters cell: the same
    # notebook with those two lines added.
    nb = nbformat.read(str(ROOT / "notebooks" / "community_report.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\nupstream = None\nproduct = None\n"
    source = folder / "community_report.ipynb"
    nbformat.write(nb, str(source))
    spec = {
        "executor": {"dotted_path": "ploomber.executors.Parallel", "processes": 2},
        "tasks": [{
            "source": str(source),
            "name": "report-[[community]]",
            "static_analysis": "disable",
            "product": {"nb": str(out / "[[community]].html")},
            "nbconvert_export_kwargs": {"exclude_input": True},
            "grid": {"community": communities},
            "params": {"data_dir": str(data), "week": WEEK},
        }],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def start_dask(jobs: int) -> tuple[subprocess.Popen, str]:
    """Start a local Dask cluster (``jobs`` workers, one thread each) in its own process; return it and its address."""
    code = ("from dask.distributed import LocalCluster\n"
            f"c = LocalCluster(n_workers={jobs}, threads_per_worker=1, processes=True, dashboard_address=None)\n"
            "print(c.scheduler_address, flush=True)\n"
            "import sys; sys.stdin.read()\n")
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    address = proc.stdout.readline().strip()
    if not address.startswith("tcp://"):
        proc.kill()
        raise SystemExit("could not start a local Dask cluster (is dask[distributed] installed?)")
    return proc, address


def stop_dask(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
        proc.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()


def change_one_community(data: Path, community: str) -> tuple[Path, bytes]:
    """Append one visit of week W to a community's visits file; return (file, its old bytes) to restore."""
    path = next(p for p in sorted((data / "visits").iterdir()) if p.name.startswith(community))
    old = path.read_bytes()
    last = old.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode("utf-8").split(",")
    last[0] = "2023-09-14"  # a day of 2023-W37
    path.write_bytes(old.rstrip(b"\r\n") + b"\n" + ",".join(last).encode("utf-8") + b"\n")
    return path, old


def main() -> None:
    if "--district" in sys.argv:  # the district case (opt-in, tens of minutes): bench_district.py
        sys.argv.remove("--district")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_district

        bench_district.main()
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--communities", default="20", help="comma-separated N values (default 20)")
    ap.add_argument("--households", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--naive-max", type=int, default=20, help="skip the (slow) naive loops above this N")
    ap.add_argument("--skip-naive", action="store_true", help="no naive loops (sequential or 2-way)")
    ap.add_argument("--skip-ploomber", action="store_true", help="no Ploomber anchor (it needs its own venv)")
    ap.add_argument("--skip-dask", action="store_true", help="no run on a local Dask cluster")
    ap.add_argument("--workdir", type=Path, default=None, help="work folder (kept: data and the Ploomber venv are reused)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "data" / "sample"))
    from generate import generate  # the sample generator, with a size parameter

    work = (args.workdir or Path(tempfile.mkdtemp(prefix="canvass-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}; load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs", flush=True)
    ploomber, skipped = (None, "--skip-ploomber") if args.skip_ploomber else ploomber_venv(work)
    if skipped and not args.skip_ploomber:
        print(f"Ploomber anchor skipped: {skipped}", flush=True)
    results = {}
    phases: dict = {}  # N → {"batch": timings, "rerun1": timings} of the last run
    loads = []
    for n in [int(x) for x in args.communities.split(",")]:
        phases[n] = {}
        data = work / f"data-{n}"
        if not data.exists():
            generate(data, n_communities=n, households=args.households, messy=False)
        import yaml
        communities = yaml.safe_load((data / "subdistrict.yml").read_text(encoding="utf-8"))["communities"]
        env = {**os.environ, "CANVASS_CACHE_DIR": str(work / "naive-cache")}
        penv = {**env, "PYTHONPATH": str(ROOT), "PLOOMBER_STATS_ENABLED": "false", "PLOOMBER_VERSION_CHECK_DISABLED": "true"}
        row = {k: [] for k in ("naive", "naive2", "ploomber", "batch", "rerun", "rerun1", "rerun1c", "dask", "floor")}
        naive = n <= args.naive_max and not args.skip_naive
        batch = [PY, "run_reports.py", "--data", str(data), "--out", str(work / "batch-out"), "--week", WEEK,
                 "--jobs", str(args.jobs)]
        for r in range(args.runs):
            if naive:
                for key, par in (("naive", 1), ("naive2", 2)):
                    shutil.rmtree(work / "naive-cache", ignore_errors=True)
                    shutil.rmtree(work / "naive-out", ignore_errors=True)
                    row[key].append(naive_loop(data, work / "naive-out", communities, env, par))
            if ploomber:
                shutil.rmtree(work / "naive-cache", ignore_errors=True)
                shutil.rmtree(work / "ploomber-out", ignore_errors=True)
                spec = ploomber_spec(data, work / "ploomber-out", communities, work / "ploomber")
                row["ploomber"].append(measure([str(ploomber), "build", "--entry-point", str(spec), "--force"], penv))
            shutil.rmtree(work / "batch-out", ignore_errors=True)
            row["batch"].append(measure(batch + ["--force"]))
            manifest = json.loads((work / "batch-out" / WEEK / "manifest.json").read_text(encoding="utf-8"))
            phases[n]["batch"] = manifest["timings"]
            # A re-run with nothing changed reuses every community's outputs (no --force).
            row["rerun"].append(measure(batch))
            changed, old = change_one_community(data, communities[0])
            try:
                row["rerun1"].append(measure(batch))
                manifest = json.loads((work / "batch-out" / WEEK / "manifest.json").read_text(encoding="utf-8"))
                phases[n]["rerun1"] = manifest["timings"]
                ran = [c for c, o in manifest["communities"].items() if o.get("status") == "ok"]
                if ran != [communities[0]]:
                    print(f"  (rerun1 ran {len(ran)} communities, expected only {communities[0]})", flush=True)
            finally:
                changed.write_bytes(old)
            # The same change again, after a run on the restored file: its cleaned tables are in
            # the cache now (as when a file is put back and changed again, or after another -p).
            measure(batch)
            changed, old = change_one_community(data, communities[0])
            try:
                row["rerun1c"].append(measure(batch))
                manifest = json.loads((work / "batch-out" / WEEK / "manifest.json").read_text(encoding="utf-8"))
                phases[n]["rerun1c"] = manifest["timings"]
                if not manifest["timings"].get("clean_cached"):
                    print("  (rerun1c did not find its cleaned tables in the cache)", flush=True)
            finally:
                changed.write_bytes(old)
            if not args.skip_dask:
                cluster, address = start_dask(args.jobs)
                try:
                    shutil.rmtree(work / "dask-out", ignore_errors=True)
                    row["dask"].append(measure([PY, "run_reports.py", "--data", str(data), "--out", str(work / "dask-out"),
                                                "--week", WEEK, "--jobs", str(args.jobs), "--force",
                                                "--scheduler", address]))
                finally:
                    stop_dask(cluster)
            shutil.rmtree(work / "floor-out", ignore_errors=True)
            row["floor"].append(measure([PY, "benchmarks/floor.py", "--data", str(data), "--out",
                                         str(work / "floor-out"), "--week", WEEK, "--jobs", str(args.jobs)]))
            loads.append(os.getloadavg()[0])
            print(f"N={n} run {r + 1}: " + "  ".join(
                f"{k} {v[-1][0]:.1f}s/{v[-1][1]:.0f}MiB" for k, v in row.items() if v), flush=True)
        results[n] = {k: (statistics.median(s for s, _ in v), max(m for _, m in v)) if v else None
                      for k, v in row.items()}
    print()
    cols = ("naive", "naive2", "ploomber", "batch", "rerun", "rerun1", "rerun1c", "dask", "floor")
    print(f"{'N':>5} " + " ".join(f"{c + ' s':>10}" for c in cols) + f" {'batch MiB':>10} {'floor MiB':>10}")
    for n, r in results.items():
        print(f"{n:>5} " + " ".join(f"{r[c][0]:10.1f}" if r[c] else f"{'-':>10}" for c in cols)
              + f" {r['batch'][1]:10.0f} {r['floor'][1]:10.0f}")
        print(f"      re-run with nothing changed = {100 * r['rerun'][0] / r['batch'][0]:.0f}% of a full run, "
              f"after one community changed = {100 * r['rerun1'][0] / r['batch'][0]:.0f}% "
              f"({100 * r['rerun1c'][0] / r['batch'][0]:.0f}% with its cleaned tables cached); "
              f"batch/floor = {r['batch'][0] / r['floor'][0]:.2f}")
        for what, t in phases[n].items():  # where the time went, in the last run (manifest timings)
            print(f"      {what} phases (s): " + ", ".join(
                f"{k} {t[k]:.1f}" for k in ("clean", "plan", "tables", "communities", "digest", "total")
                if isinstance(t.get(k), (int, float))))
    ns = sorted(results)
    for a, b in zip(ns, ns[1:]):
        marginal = (results[b]["batch"][0] - results[a]["batch"][0]) / (b - a)
        print(f"marginal batch time per community between N={a} and N={b}: {marginal:.3f} s")
    main_n = 20 if 20 in results else ns[-1]
    r = results[main_n]

    def ratio(a, b):
        return r[a][0] / r[b][0] if r.get(a) and r.get(b) else float("nan")

    print(f"(N={main_n}, median of {args.runs} runs, {args.jobs} jobs, load average during the runs "
          f"{min(loads):.2f}–{max(loads):.2f})")
    print(f"naive/batch={ratio('naive', 'batch'):.2f} naive2/batch={ratio('naive2', 'batch'):.2f} "
          f"ploomber/batch={ratio('ploomber', 'batch'):.2f} batch/floor={ratio('batch', 'floor'):.2f} "
          f"rerun/full={ratio('rerun', 'batch'):.2f} rerun1/full={ratio('rerun1', 'batch'):.2f} "
          f"rerun1c/full={ratio('rerun1c', 'batch'):.2f} "
          f"dask/local={ratio('dask', 'batch'):.2f}")


if __name__ == "__main__":
    main()
