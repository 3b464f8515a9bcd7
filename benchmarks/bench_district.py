"""Benchmark a district run: 50 sub-districts x 20 communities x 1,500 households (opt-in, tens of minutes).

    python benchmarks/bench_district.py                         # the issue's case: 1,000 communities
    python benchmarks/bench_district.py --subdistricts 3        # a quick look

It generates (data/sample/generate.py, plain layouts) one sub-district of 5 and one of 20
communities, and a district folder of --subdistricts sub-districts of --communities each,
all at --households per community, then times on the same week, once each:
  1. the single sub-district at N = 5 and N = 20 (run_reports.py --force);
  2. the district (run_reports.py --data DISTRICT --force), on the same --week as the single
     runs (so each community does the same work); with --default-week the week is chosen from
     the data as on a Monday, which adds the first pass that finds the common week (the
     generated data run three days into the next week, so that week is reported then).
Peak memory is the PSS of the whole process tree (bench_batch.measure). Printed:
total time, marginal seconds per community (N = 20: (T20 - T5) / 15; district:
(T_district - T20) / (communities - 20)), and the district's T / communities beside T20 / 20.
The last line is `district_marginal/n20_marginal=… peak_mib=…` for scripts.
Never part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "data" / "sample"))

from bench_batch import PY, WEEK, measure  # noqa: E402


def subdistrict_name(i: int) -> str:
    """Return the i-th made-up sub-district name (distinct for any i)."""
    import generate as gen

    words = gen.EXTRA_WORDS
    return words[i % len(words)] + (gen.cn_num(i // len(words)) if i >= len(words) else "") + "街道"


def make_district(folder: Path, subdistricts: int, communities: int, households: int) -> None:
    """Write a district folder: district.yml and one generated sub-district per folder."""
    import generate as gen

    names = [subdistrict_name(i) for i in range(subdistricts)]
    for i, name in enumerate(names):
        gen.generate(folder / name, n_communities=communities, households=households, seed=1000 + i,
                     messy=False, name=name)
    (folder / "district.yml").write_text(
        "name: 基准区\nsubdistricts: [" + ", ".join(names) + "]\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subdistricts", type=int, default=50)
    ap.add_argument("--communities", type=int, default=20, help="communities per sub-district")
    ap.add_argument("--households", type=int, default=1500)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--default-week", action="store_true", help="district run without --week (first pass)")
    args = ap.parse_args()
    import generate as gen

    work = args.workdir or Path(tempfile.mkdtemp(prefix="canvass-bench-district-"))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    single = {}
    for n in (5, 20):
        data = work / f"data-{n}"
        if not data.exists():
            gen.generate(data, n_communities=n, households=args.households, messy=False)
        single[n] = measure([PY, "run_reports.py", "--data", str(data), "--out", str(work / f"out-{n}"),
                             "--week", WEEK, "--jobs", str(args.jobs), "--force"], env)
        print(f"single sub-district N={n}: {single[n][0]:.1f} s, peak {single[n][1]:.0f} MiB", flush=True)
    district = work / "district"
    if not (district / "district.yml").is_file():
        make_district(district, args.subdistricts, args.communities, args.households)
    total = args.subdistricts * args.communities
    week = [] if args.default_week else ["--week", WEEK]
    seconds, peak = measure([PY, "run_reports.py", "--data", str(district), "--out", str(work / "out-district"),
                             "--jobs", str(args.jobs), "--force", *week], env)
    n20 = (single[20][0] - single[5][0]) / 15
    marginal = (seconds - single[20][0]) / (total - 20)
    print(f"district: {args.subdistricts} sub-districts x {args.communities} communities x {args.households} "
          f"households = {total} communities, {args.jobs} jobs")
    print(f"  total {seconds:.1f} s, peak PSS of the process tree {peak:.0f} MiB")
    print(f"  marginal s/community: district {marginal:.3f} (vs N=20) ; N=20 {n20:.3f} (between N=5 and N=20)")
    print(f"  s/community overall: district {seconds / total:.3f} ; N=20 {single[20][0] / 20:.3f}")
    print(f"district_marginal/n20_marginal={marginal / n20:.2f} peak_mib={peak:.0f} total_s={seconds:.0f}")


if __name__ == "__main__":
    main()
