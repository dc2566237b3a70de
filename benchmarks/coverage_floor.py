"""How close to its level can any interval's coverage per age bucket come, on one run's splits?

    python -m benchmarks.coverage_floor RUN_DIR [--tolerance 0.03] [--simulations 100000]

A bucket's observed coverage is a share of its test faces, so it moves by
sqrt(level (1 - level) / n) from test split to test split even for intervals
that hold exactly; and intervals fitted on a bucket's validation faces miss
the true quantile by a Beta-distributed amount (split conformal's coverage
given its calibration set is Beta(k, n + 1 - k), k the number of errors
between its two bounds' ranks).
With the run's own bucket sizes this prints, per level and bucket, the
observed coverage, its deviation from the level, and the standard deviation
those two sources give it; then, by simulation, how often all buckets with
at least 100 test faces would fall within the tolerance: for an oracle that
knows every bucket's true quantiles, and for exact split conformal on the
validation split (both levels simulated together, as one run's are). It
reads calibration.json and predictions.csv only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from core import runs
from core.evaluation.calibration import coverage_table
from core.evaluation.metrics import age_bucket
from core.labels import AGE_BUCKET_LABELS

LEVELS = (0.8, 0.9)
# The rule: buckets with fewer test faces are not held to the tolerance.
MIN_TEST_FACES = 100


def bucket_counts(ages: np.ndarray) -> np.ndarray:
    buckets = age_bucket(pd.Series(ages))
    return np.array([int((buckets == label).sum()) for label in AGE_BUCKET_LABELS])


def conformal_rank(count, level: float):
    """k of the two-sided bounds core.evaluation.calibration fits on `count` errors: the upper bound's rank less the lower's."""
    count = np.asarray(count)
    alpha = 1 - level
    low_rank = np.floor((count + 1) * alpha / 2)
    high_rank = np.minimum(np.ceil((count + 1) * (1 - alpha / 2)), count + 1)
    return high_rank - low_rank


def chance_all_within(
    val_n, test_n, tolerance: float, simulations: int, calibrated_on_validation: bool, levels=LEVELS, seed: int = 0
):
    """(share of simulated test splits where every bucket at every level is within `tolerance`, mean figures missed).

    The levels (ascending) are simulated jointly, as one run's are: the same
    test faces, and intervals nested inside each other fitted on the same
    validation faces.
    """
    rng = np.random.default_rng(seed)
    val_n, test_n = np.asarray(val_n), np.asarray(test_n)
    shape = (simulations, len(val_n))
    missed = np.zeros(simulations)
    previous_coverage, previous_count = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    previous_rank = np.zeros(len(val_n))
    for level in levels:
        if calibrated_on_validation:
            # Split conformal's coverage is Beta(k, n + 1 - k), k the number of calibration errors from the
            # lower bound's rank to the upper's (core.evaluation.calibration._quantile_bounds; a rank off the end is
            # an open bound): given the coverage at the level below (k = j), the next is that plus
            # (1 - it) Beta(k - j, n + 1 - k).
            rank = conformal_rank(val_n, level)
            step = rng.beta(np.maximum(rank - previous_rank, 1e-9), np.maximum(val_n + 1 - rank, 1e-9), size=shape)
            coverage = np.where(rank > val_n, 1.0, previous_coverage + (1 - previous_coverage) * step)
            previous_rank = rank
        else:
            coverage = np.full(shape, level)
        # Faces covered at this level: those covered at the level below, and a binomial share of the rest.
        extra_share = np.clip((coverage - previous_coverage) / np.maximum(1 - previous_coverage, 1e-12), 0, 1)
        count = previous_count + rng.binomial(test_n - previous_count, extra_share)
        missed += (np.abs(count / test_n - level) > tolerance).sum(axis=1)
        previous_coverage, previous_count = coverage, count
    return float((missed == 0).mean()), float(missed.mean())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--simulations", type=int, default=100_000)
    args = parser.parse_args(argv)

    calibration = runs.read_calibration(args.run_dir)
    if calibration is None or not len(calibration.validation_age):
        raise SystemExit(f"{args.run_dir} has no age calibration (python -m core calibrate {args.run_dir})")
    predictions = runs.read_predictions(args.run_dir)
    held = {(row["level"], row["age_bucket"]): row["coverage"] for row in coverage_table(predictions, calibration, LEVELS)}
    val_n, test_n = bucket_counts(calibration.validation_age), bucket_counts(predictions["age"].to_numpy())
    judged = test_n >= MIN_TEST_FACES

    print(f"{args.run_dir}: {len(calibration.validation_age)} validation and {len(predictions)} test faces")
    print(f"{'level':>5} {'bucket':>6} {'val':>5} {'test':>5} {'held':>7} {'off by':>7} {'sd':>6} {'off/sd':>6}")
    observed_misses = 0
    for level in LEVELS:
        for index, label in enumerate(AGE_BUCKET_LABELS):
            if not test_n[index]:
                continue
            coverage = held[(level, label)]
            spread = np.sqrt(level * (1 - level) * (1 / test_n[index] + 1 / max(1, val_n[index])))
            off = coverage - level
            observed_misses += bool(judged[index] and abs(off) > args.tolerance)
            print(
                f"{level:5.0%} {label:>6} {val_n[index]:5d} {test_n[index]:5d} {coverage:7.1%} {off * 100:+6.1f}p {spread * 100:5.1f}p {off / spread:+6.1f}"
            )
    cells = len(LEVELS) * int(judged.sum())
    print(f"\nbuckets off by more than {args.tolerance:.0%}: {observed_misses} of {cells} (this run)")
    for name, on_validation in (("an oracle that knows the true quantiles", False), ("exact split conformal, per bucket", True)):
        chance, mean_missed = chance_all_within(val_n[judged], test_n[judged], args.tolerance, args.simulations, on_validation)
        print(f"{name}: all {cells} within {args.tolerance:.0%} in {chance:.1%} of test splits; {mean_missed:.1f} off on average")


if __name__ == "__main__":
    main()
