"""Time and profile the batch's own per-community files (staff workbooks, WeChat images).

The batch writes them in a thread of the parent process while the workers run notebooks, so a
profile of the parent's main thread does not see them. This runs the batch in-process with a
timer and cProfile around ``TableFiles.write_community``:

    PYTHONPATH=. .venv/bin/python benchmarks/profile_community_files.py --data /tmp/cb/data-20 --out /tmp/cb/batch-out

(``/tmp/cb/data-20`` is made by ``bench_batch.py --workdir /tmp/cb``.) Run by hand, never by the tests.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--week", default="2023-W37")
    ap.add_argument("--jobs", default="2")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    from canvass import cli
    from canvass.run import community_files as cf

    original = cf.TableFiles.write_community
    times: list[float] = []
    profile = cProfile.Profile()

    def timed(self, community, failed, image=True):
        start = time.perf_counter()
        profile.enable()
        try:
            return original(self, community, failed, image)
        finally:
            profile.disable()
            times.append(time.perf_counter() - start)

    cf.TableFiles.write_community = timed
    cli.main(["--data", args.data, "--out", args.out, "--week", args.week, "--jobs", args.jobs, "--force"])
    print(f"write_community: {len(times)} communities, {sum(times):.1f} s in all; each (s): "
          + ", ".join(f"{t:.2f}" for t in times), file=sys.stderr)
    profile.create_stats()
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(args.top)
    if os.environ.get("CALLERS"):
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_callers(os.environ["CALLERS"])


if __name__ == "__main__":  # the batch's worker processes import this module again
    main()
