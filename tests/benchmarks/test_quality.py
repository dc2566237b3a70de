"""The quality benchmark in two parts: the second reuses the first's runs, and each row's time ratio is to its own part's seed preset."""

import pytest

from benchmarks import quality

# The benchmark trains real models.
pytestmark = pytest.mark.slow


def test_a_benchmark_run_in_two_parts_reuses_the_first_and_times_each_row_against_its_own_part(shared_csv, tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    common = [
        "--csv",
        str(shared_csv),
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--results",
        str(results),
        "--runs-dir",
        str(tmp_path),
    ]
    quality.main(["--presets", "seed", "compact", "--seeds", "1", *common])
    first_part = capsys.readouterr().out
    quality.main(["--presets", "seed", "compact", "--seeds", "1", "2", "--reuse", *common])
    second_part = capsys.readouterr().out

    records = quality.read_records(results)
    assert [(record["preset"], record["seed"]) for record in records] == [
        ("seed", 1),
        ("compact", 1),
        ("seed", 1),
        ("compact", 2),
    ]
    seed_1, compact_1, seed_again, compact_2 = records
    assert seed_1["invocation"] == compact_1["invocation"] != seed_again["invocation"] == compact_2["invocation"]
    # compact seed 1 was not trained again: its figures are the first part's.
    compact_1_accuracy = compact_1["tests"][0]["accuracy"]
    assert f"| compact | 1 | {compact_1_accuracy:.3f} ± 0.000 |" in first_part
    accuracies = [compact_1_accuracy, compact_2["tests"][0]["accuracy"]]
    assert f"{sum(accuracies) / 2:.3f} ± {abs(accuracies[0] - accuracies[1]) / 2:.3f}" in second_part
    ratios = f"{compact_1['minutes'] / seed_1['minutes']:.2f} and {compact_2['minutes'] / seed_again['minutes']:.2f}"
    assert f"| {compact_1['minutes']:.1f} and {compact_2['minutes']:.1f} | {ratios} |" in second_part
    assert "Trained in parts" in second_part and "Trained in parts" not in first_part
