"""Benchmark the weekly batch against the naive loop and the no-kernel floor.

    python benchmarks/bench_batch.py                       # N = 20 communities x 3,000 households
    python benchmarks/bench_batch.py --communities 5,20,100 --naive-max 20

For each N it generates a synthetic sub-district (data/sample/generate.py), then times,
on the same data and week, each the median of --runs runs:
  1. naive: papermill CLI then `jupyter nbconvert --to html --no-input`, per community, sequentially;
  2. batch: run_reports.py --force (every output: reports, digest, metrics, follow-ups);
  3. floor: benchmarks/floor.py, the same outputs by plain function calls, same process count.
Wall time and peak memory (summed over the process tree) are printed; the last line is
`naive/batch=… batch/floor=…` for scripts.
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
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
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
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.read().decode()[-3000:]}")
    return seconds, peak / 2**20


def naive_loop(data: Path, out: Path, communities: list[str], env: dict) -> tuple[float, float]:
    """The analyst's alternative: one papermill and one nbconvert process per community."""
    script = out.parent / "naive.sh"
    lines = ["set -e"]
    for i, c in enumerate(communities):
        nb = out / f"c{i}.ipynb"
        lines.append(f"'{PY}' -m papermill notebooks/community_report.ipynb '{nb}' -p community '{c}' "
                     f"-p data_dir '{data}' -p week {WEEK} --no-progress-bar >/dev/null 2>&1")
        lines.append(f"'{PY}' -m jupyter nbconvert --to html --no-input '{nb}' >/dev/null 2>&1")
    out.mkdir(parents=True, exist_ok=True)
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return measure(["bash", str(script)], env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--communities", default="20", help="comma-separated N values (default 20)")
    ap.add_argument("--households", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--naive-max", type=int, default=20, help="skip the (slow) naive loop above this N")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "data" / "sample"))
    from generate import generate  # the sample generator, with a size parameter

    work = args.workdir or Path(tempfile.mkdtemp(prefix="canvass-bench-"))
    results = {}
    for n in [int(x) for x in args.communities.split(",")]:
        data = work / f"data-{n}"
        if not data.exists():
            generate(data, n_communities=n, households=args.households, messy=False)
        import yaml
        communities = yaml.safe_load((data / "subdistrict.yml").read_text(encoding="utf-8"))["communities"]
        env = {**os.environ, "CANVASS_CACHE_DIR": str(work / "naive-cache")}
        row = {"naive": [], "batch": [], "rerun": [], "floor": []}
        for r in range(args.runs):
            if n <= args.naive_max:
                shutil.rmtree(work / "naive-cache", ignore_errors=True)
                shutil.rmtree(work / "naive-out", ignore_errors=True)
                row["naive"].append(naive_loop(data, work / "naive-out", communities, env))
            shutil.rmtree(work / "batch-out", ignore_errors=True)
            row["batch"].append(measure([PY, "run_reports.py", "--data", str(data), "--out", str(work / "batch-out"),
                                         "--week", WEEK, "--jobs", str(args.jobs), "--force"]))
            # A re-run with nothing changed reuses every community's outputs (no --force).
            row["rerun"].append(measure([PY, "run_reports.py", "--data", str(data), "--out", str(work / "batch-out"),
                                         "--week", WEEK, "--jobs", str(args.jobs)]))
            shutil.rmtree(work / "floor-out", ignore_errors=True)
            row["floor"].append(measure([PY, "benchmarks/floor.py", "--data", str(data), "--out",
                                         str(work / "floor-out"), "--week", WEEK, "--jobs", str(args.jobs)]))
            manifest = json.loads((work / "batch-out" / WEEK / "manifest.json").read_text(encoding="utf-8"))
            row.setdefault("images", []).append((manifest["timings"].get("images", float("nan")) / (n + 1), 0))
            print(f"N={n} run {r + 1}: " + "  ".join(
                f"{k} {v[-1][0]:.1f}s/{v[-1][1]:.0f}MiB" for k, v in row.items() if v), flush=True)
        results[n] = {k: (statistics.median(s for s, _ in v), max(m for _, m in v)) if v else None
                      for k, v in row.items()}
    print()
    print(f"{'N':>5} {'naive s':>9} {'batch s':>9} {'rerun s':>9} {'floor s':>9} {'batch MiB':>10} "
          f"{'floor MiB':>10} {'batch s/comm':>13}")
    for n, r in results.items():
        naive = f"{r['naive'][0]:9.1f}" if r["naive"] else f"{'-':>9}"
        print(f"{n:>5} {naive} {r['batch'][0]:9.1f} {r['rerun'][0]:9.1f} {r['floor'][0]:9.1f} {r['batch'][1]:10.0f} "
              f"{r['floor'][1]:10.0f} {r['batch'][0] / n:13.2f}")
        print(f"      no-change re-run = {100 * r['rerun'][0] / r['batch'][0]:.0f}% of a full run; "
              f"WeChat images {r['images'][0]:.2f} s each (digest.png and one per community)")
    ns = sorted(results)
    for a, b in zip(ns, ns[1:]):
        marginal = (results[b]["batch"][0] - results[a]["batch"][0]) / (b - a)
        print(f"marginal batch time per community between N={a} and N={b}: {marginal:.3f} s")
    main_n = 20 if 20 in results else ns[0]
    r = results[main_n]
    naive_ratio = r["naive"][0] / r["batch"][0] if r["naive"] else float("nan")
    print(f"(N={main_n}, median of {args.runs} runs, {args.jobs} jobs)")
    print(f"naive/batch={naive_ratio:.2f} batch/floor={r['batch'][0] / r['floor'][0]:.2f}")


if __name__ == "__main__":
    main()
