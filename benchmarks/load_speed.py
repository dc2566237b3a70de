"""Benchmark: how fast the face CSV loads, cold (parse + validate + write cache) and warm (from cache),
beside the naive pandas `str.split` way.

    python -m benchmarks.load_speed [--csv ../shared/data/age_gender.csv.gz] [--repeats 3]

Targets on a 2-core machine with the shared 21,333-row CSV: cold <= 2 s, warm <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.paths import SHARED_CSV
from core.data.loading import load_faces


def naive_load(path: Path) -> np.ndarray:
    """The way most notebooks do it: pandas, then str.split on the pixels column."""
    frame = pd.read_csv(path)
    pixels = frame["pixels"].str.split(" ")
    return np.array(pixels.tolist(), dtype=np.float32).reshape(-1, 48, 48, 1) / 255.0


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=SHARED_CSV)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["AGEGENDER_CACHE"] = cache
            cold.append(timed(load_faces, args.csv))
            warm.append(timed(load_faces, args.csv))
    _faces, report = load_faces(args.csv, use_cache=False)
    naive = timed(naive_load, args.csv)

    print(f"file: {args.csv} ({report.rows_read:,} rows, {report.summary()})")
    print(f"naive pandas str.split : {naive:7.2f} s")
    print(
        f"cold load (parse+cache): {statistics.median(cold):7.2f} s  median of {args.repeats}: {', '.join(f'{t:.2f}' for t in cold)}  (target <= 2 s)"
    )
    print(
        f"warm load (from cache) : {statistics.median(warm):7.3f} s  median of {args.repeats}: {', '.join(f'{t:.3f}' for t in warm)}  (target <= 0.3 s)"
    )
    print(f"speed-up vs naive      : cold {naive / statistics.median(cold):.0f}x, warm {naive / statistics.median(warm):.0f}x")


if __name__ == "__main__":
    main()
