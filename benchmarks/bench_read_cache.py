"""clean_folder after one community's visits file gained a row: without and with the read cache.

Usage: PYTHONPATH=. python benchmarks/bench_read_cache.py --data /tmp/cb/data-20 [--rounds 3]

Copies DATA to a temporary folder (the original is never touched), fills the read cache once
(what the full run leaves), then each round appends one visit row to the first community's
visits file (as bench_batch.py's rerun1 does; a new version of that file every round) and
times ``clean_folder`` without the cache and with it (one file read, the others from the
cache), in the same process. Prints each pair, then the minimum and median of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import change_one_community  # noqa: E402

from canvass.config import load_config  # noqa: E402
from canvass.ingest.clean import clean_folder  # noqa: E402
from canvass.ingest.read_cache import ReadCache  # noqa: E402


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # not on Windows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-read-cache-") as tmp:
        work = Path(tmp)
        data = work / "data"
        shutil.copytree(args.data, data)
        config = load_config(data)
        first = yaml.safe_load((data / "subdistrict.yml").read_text(encoding="utf-8"))["communities"][0]
        warm = ReadCache(work / "read")
        clean_folder(data, config, warm)
        warm.publish()  # a run publishes its entries with the prepared slices
        times: dict = {"without": [], "with": []}
        for _ in range(args.rounds):
            change_one_community(data, first)
            for mode in ("without", "with"):
                cache = ReadCache(work / "read") if mode == "with" else None
                t = time.perf_counter()
                clean_folder(data, config, cache)
                times[mode].append(time.perf_counter() - t)
                if cache is not None:
                    cache.publish()  # not timed: save_prepared's part of a run
                extra = f"  ({cache.hits} from the cache, {cache.misses} read)" if cache else ""
                print(f"{mode:>7} the read cache: {times[mode][-1]:6.2f} s{extra}  load {_load():.1f}",
                      flush=True)
        for mode, v in times.items():
            print(f"{mode:>7}: min {min(v):.2f} s, median {statistics.median(v):.2f} s")


if __name__ == "__main__":
    main()
