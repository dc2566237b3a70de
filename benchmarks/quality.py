"""Quality benchmark: train each preset with fixed seeds on the shared CSV and print a table.

    python -m benchmarks.quality [--presets seed compact-long best] [--seeds 1 2] [--seed-preset-seeds 1]
                                 [--epochs N] [--limit N]

Presets whose heads share a trunk train one `both` model; the others train a
gender model and an age model (as the seed recipe does). The `seed` preset,
the reference for time, trains with `--seed-preset-seeds` (default: the
first seed only), every other preset with `--seeds`. Prints, per preset,
test gender accuracy and age MAE (mean ± half the spread over the seeds),
training minutes on this machine, the ratio to the `seed` preset's minutes
in the same run (machines are noisy; ratios travel) and parameters; then MAE
by age bucket per preset, and accuracy and MAE per gender and per ethnicity
for every preset but `seed`. Runs are written under
artifacts/benchmark-runs/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import RUNS, SHARED_CSV
from core import runs
from core.config import TrainConfig
from core.evaluation import AGE_BUCKET_LABELS
from core.presets import DEFAULT_PRESET, PRESETS, get_preset


def train_preset(preset: str, seed: int, args) -> dict:
    """Train one seed of a preset; returns its test summary per head, minutes and parameters."""
    import keras

    from core.training import train

    tasks = ("both",) if get_preset(preset).shared_trunk else ("gender", "age")
    result = {"minutes": 0.0, "parameters": 0, "test": {}}
    for task in tasks:
        run_dir = RUNS / f"{preset}-{task}-seed{seed}"
        config = TrainConfig(task=task, preset=preset, seed=seed, epochs=args.epochs, limit=args.limit, csv_path=str(args.csv))
        started = time.perf_counter()
        train(config, run_dir=run_dir, verbose=0)
        result["minutes"] += (time.perf_counter() - started) / 60
        result["parameters"] += keras.saving.load_model(run_dir / runs.MODEL_FILE).count_params()
        summary = runs.read_metrics(run_dir).test
        for head, key in (("gender", "accuracy"), ("age", "mae")):
            if key in summary.headline():
                result["test"][head] = summary
        print(f"  {preset} {task} seed {seed}: {json.dumps(summary.headline())}"
              f" in {(time.perf_counter() - started) / 60:.1f} min", flush=True)  # fmt: skip
    return result


def mean_spread(values: list[float]) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {(values.max() - values.min()) / 2:.3f}"


def group_means(results: list[dict], head: str, table: str, key: str, metric: str) -> dict[str, float]:
    """Mean of `metric` per group of breakdown `table` over seeds."""
    groups: dict[str, list[float]] = {}
    for result in results:
        for row in getattr(result["test"][head], table):
            if row.get(metric) is not None:
                groups.setdefault(row[key], []).append(row[metric])
    return {group: float(np.mean(values)) for group, values in groups.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=SHARED_CSV)
    parser.add_argument("--presets", nargs="+", default=["seed", DEFAULT_PRESET, "best"], choices=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seed-preset-seeds", nargs="+", type=int, default=None, help="default: the first of --seeds")
    parser.add_argument("--epochs", type=int, default=None, help="default: each preset's own")
    parser.add_argument("--limit", type=int, default=None, help="rows to use (default: all)")
    args = parser.parse_args(argv)

    seeds = {preset: (args.seed_preset_seeds or args.seeds[:1]) if preset == "seed" else args.seeds for preset in args.presets}
    results = {preset: [train_preset(preset, seed, args) for seed in seeds[preset]] for preset in args.presets}
    reference = np.mean([run["minutes"] for run in results["seed"]]) if "seed" in results else None

    print(f"\nTest split of {args.csv.name}, mean ± half the spread over the seeds:\n")
    print("| preset | seeds | gender accuracy | age MAE (years) | train minutes | × seed's minutes | parameters |\n|---|---|---|---|---|---|---|")
    for preset, seeds_of in results.items():
        accuracy = mean_spread([run["test"]["gender"].accuracy for run in seeds_of])
        mae = mean_spread([run["test"]["age"].mae for run in seeds_of])
        minutes = np.mean([run["minutes"] for run in seeds_of])
        ratio = f"{minutes / reference:.2f}" if reference else "–"
        print(f"| {preset} | {' '.join(map(str, seeds[preset]))} | {accuracy} | {mae} | {minutes:.1f} | {ratio} | {seeds_of[0]['parameters']:,} |")

    print("\nAge MAE by age bucket (years):\n")
    print("| preset | " + " | ".join(AGE_BUCKET_LABELS) + " |\n" + "|---" * (len(AGE_BUCKET_LABELS) + 1) + "|")
    for preset, seeds_of in results.items():
        by_bucket = group_means(seeds_of, "age", "by_age_bucket", "age_bucket", "mae")
        print(f"| {preset} | " + " | ".join(f"{by_bucket.get(label, float('nan')):.2f}" for label in AGE_BUCKET_LABELS) + " |")

    for preset, fairness_runs in results.items():
        if preset == "seed" and len(results) > 1:
            continue
        print(f"\nFairness of `{preset}`{' (the default)' if preset == DEFAULT_PRESET else ''}: accuracy and MAE per group:\n")
        print("| group | gender accuracy | age MAE |\n|---|---|---|")
        for table, key in (("by_gender", "gender"), ("by_ethnicity", "ethnicity")):
            accuracy = group_means(fairness_runs, "gender", table, key, "accuracy")
            mae = group_means(fairness_runs, "age", table, key, "mae")
            for group in accuracy:
                print(f"| {key} {group} | {accuracy[group]:.3f} | {mae.get(group, float('nan')):.2f} |")


if __name__ == "__main__":
    main()
