"""Quality benchmark: train each preset with fixed seeds on the shared CSV and print a table.

    python -m benchmarks.quality [--presets seed compact-dldl best] [--seeds 1 2] [--seed-preset-seeds 1]
                                 [--epochs N] [--limit N] [--reuse]

Presets whose heads share a trunk train one `both` model; the others train a
gender model and an age model (as the seed recipe does). The `seed` preset,
the reference for time, trains with `--seed-preset-seeds` (default: the
first seed only), every other preset with `--seeds`. Prints, per preset,
test gender accuracy and age MAE (mean ± half the spread over the seeds),
training minutes on this machine, the ratio to the `seed` preset's minutes
in the same invocation (machines are noisy; ratios travel) and parameters;
then MAE by age bucket per preset, and accuracy and MAE per gender and per
ethnicity for every preset but `seed`. Runs are written under
artifacts/benchmark-runs/ (git-ignored); each finished preset and seed is
recorded, with its test figures, as a line of `--results` (a JSON-lines
file, by default artifacts/benchmark-runs/quality-results.jsonl).

`--reuse` takes the preset-and-seed pairs already recorded there (the newest
record of each) instead of training them again, so a benchmark longer than
a sitting can be run in parts: each part that trains anything trains the
`seed` preset too, and each row's ratio is to the `seed` minutes of the part
it was trained in.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from pathlib import Path

import numpy as np

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import RUNS, SHARED_CSV
from core import runs
from core.config import TrainConfig
from core.evaluation.metrics import Summary
from core.labels import AGE_BUCKET_LABELS
from core.networks.presets import DEFAULT_PRESET, PRESETS, get_preset


def train_preset(preset: str, seed: int, args, invocation: str) -> dict:
    """Train one seed of a preset and record it; returns its record (minutes, parameters, test summaries, where and when)."""
    import keras

    from core.training.loop import train

    tasks = get_preset(preset).full_model_tasks
    record = {"preset": preset, "seed": seed, "settings": settings(preset, args), "minutes": 0.0, "parameters": 0,
              "tests": [], "invocation": invocation, "machine": machine()}  # fmt: skip
    for task in tasks:
        run_dir = args.runs_dir / f"{preset}-{task}-seed{seed}"
        config = TrainConfig(task=task, preset=preset, seed=seed, epochs=args.epochs, limit=args.limit, csv_path=str(args.csv))
        started = time.perf_counter()
        train(config, run_dir=run_dir, verbose=0)
        record["minutes"] += (time.perf_counter() - started) / 60
        record["parameters"] += keras.saving.load_model(run_dir / runs.MODEL_FILE).count_params()
        summary = runs.read_metrics(run_dir).test
        record["tests"].append(summary.to_json())
        print(f"  {preset} {task} seed {seed}: {json.dumps(summary.headline())}"
              f" in {(time.perf_counter() - started) / 60:.1f} min", flush=True)  # fmt: skip
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as log:
        log.write(json.dumps(record) + "\n")
    return record


def read_records(path: Path) -> list[dict]:
    """Every record of a results file, oldest first (none if there is no file)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def settings(preset: str, args) -> dict:
    """What must match for a recorded run to stand for one asked for now: the epochs, the rows and the CSV."""
    return {"epochs": args.epochs or get_preset(preset).epochs, "limit": args.limit, "csv": args.csv.name}


def with_test_summaries(record: dict) -> dict:
    """A record with its test summaries by head (`test`: {"gender": Summary, "age": Summary})."""
    summaries = [Summary.from_json(values) for values in record["tests"]]
    return {**record, "test": {head: summary for summary in summaries for head in summary.heads()}}


def machine() -> str:
    """The CPU's model name and core count, to tell the parts of a benchmark run on other machines apart."""
    from core.networks.arithmetic import has_bfloat16_instructions

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # Not Linux.
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")] or [platform.processor() or "CPU"]
    bfloat16 = ", bfloat16" if has_bfloat16_instructions() else ""
    return f"{names[0]} × {os.cpu_count()}{bfloat16}"


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
    parser.add_argument("--runs-dir", type=Path, default=RUNS, help="where the runs are written")
    parser.add_argument(
        "--results", type=Path, default=RUNS / "quality-results.jsonl", help="the JSON-lines record of finished runs"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="take presets and seeds recorded by earlier invocations instead of training them"
    )
    args = parser.parse_args(argv)

    seeds = {preset: (args.seed_preset_seeds or args.seeds[:1]) if preset == "seed" else args.seeds for preset in args.presets}
    invocation = f"{time.strftime('%Y-%m-%d %H:%M:%S')} ({uuid.uuid4().hex[:6]})"
    # The newest record of each preset and seed trained with these settings; the `seed` preset's only when
    # nothing else is trained (its minutes are the yardstick of the runs trained beside it).
    recorded = {}
    for record in read_records(args.results) if args.reuse else []:
        if record["settings"] == settings(record["preset"], args):
            recorded[record["preset"], record["seed"]] = record
    if any((preset, seed) not in recorded for preset in args.presets if preset != "seed" for seed in seeds[preset]):
        recorded = {key: record for key, record in recorded.items() if key[0] != "seed"}
    records = {
        preset: [recorded.get((preset, seed)) or train_preset(preset, seed, args, invocation) for seed in seeds[preset]]
        for preset in args.presets
    }
    results = {preset: [with_test_summaries(record) for record in of_preset] for preset, of_preset in records.items()}
    # Each invocation's mean `seed` minutes: the yardstick of the runs trained in it.
    seed_minutes = {}
    for record in read_records(args.results):
        if record["preset"] == "seed":
            seed_minutes.setdefault(record["invocation"], []).append(record["minutes"])

    print(f"\nTest split of {args.csv.name}, mean ± half the spread over the seeds:\n")
    print(
        "| preset | seeds | gender accuracy | age MAE (years) | train minutes | × seed's minutes | parameters |\n|---|---|---|---|---|---|---|"
    )
    for preset, seeds_of in results.items():
        accuracy = mean_spread([run["test"]["gender"].accuracy for run in seeds_of])
        mae = mean_spread([run["test"]["age"].mae for run in seeds_of])
        minutes = " and ".join(f"{run['minutes']:.1f}" for run in seeds_of)
        ratios = [
            run["minutes"] / np.mean(seed_minutes[run["invocation"]]) for run in seeds_of if run["invocation"] in seed_minutes
        ]
        ratio = " and ".join(f"{value:.2f}" for value in ratios) if len(ratios) == len(seeds_of) else "–"
        print(
            f"| {preset} | {' '.join(map(str, seeds[preset]))} | {accuracy} | {mae} | {minutes} | {ratio} | {seeds_of[0]['parameters']:,} |"
        )
    parts = sorted({(run["invocation"], run["machine"]) for seeds_of in results.values() for run in seeds_of})
    if len(parts) > 1:
        print("\nTrained in parts (each row's ratio is to the `seed` minutes of its part):")
        for started, where in parts:
            trained = [
                f"{run['preset']} {run['seed']}"
                for seeds_of in results.values()
                for run in seeds_of
                if run["invocation"] == started
            ]
            print(f"- {started} on {where}: {', '.join(trained)}")

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
