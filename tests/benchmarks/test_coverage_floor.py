"""The coverage floor benchmark's simulation against the exact binomial and Beta-binomial arithmetic."""

import numpy as np
import pytest
from scipy import stats

from benchmarks.coverage_floor import LEVELS, chance_all_within


def within(distribution, n, level, tolerance):
    """P(|X / n - level| <= tolerance) for a discrete X on 0..n."""
    counts = np.arange(n + 1)
    return distribution.pmf(counts)[np.abs(counts / n - level) <= tolerance].sum()


@pytest.mark.parametrize("level", LEVELS)
def test_an_oracle_bucket_misses_as_often_as_the_binomial_says(level):
    test_n = 250
    exact = within(stats.binom(test_n, level), test_n, level, 0.03)
    chance, missed = chance_all_within([100], [test_n], 0.03, 200_000, calibrated_on_validation=False, levels=(level,))
    assert chance == pytest.approx(exact, abs=0.005)
    assert missed == pytest.approx(1 - exact, abs=0.005)


@pytest.mark.parametrize("level", LEVELS)
def test_split_conformal_on_few_validation_faces_misses_as_the_beta_binomial_says(level):
    val_n, test_n = 100, 250
    # The errors from the lower bound's rank (floor(101 * 0.1) = 10, floor(101 * 0.05) = 5) to the upper's (91, 96).
    k = {0.8: 91 - 10, 0.9: 96 - 5}[level]
    exact = within(stats.betabinom(test_n, k, val_n + 1 - k), test_n, level, 0.03)
    chance, _ = chance_all_within([val_n], [test_n], 0.03, 200_000, calibrated_on_validation=True, levels=(level,))
    assert chance == pytest.approx(exact, abs=0.005)


def test_levels_are_simulated_together_and_few_validation_faces_cost():
    both, _ = chance_all_within([100], [250], 0.03, 200_000, calibrated_on_validation=True)
    alone = [
        chance_all_within([100], [250], 0.03, 200_000, calibrated_on_validation=True, levels=(level,))[0] for level in LEVELS
    ]
    assert both <= min(alone) + 0.005
    # Calibrating on a hundred faces costs: an oracle meets the tolerance far more often.
    oracle, _ = chance_all_within([100], [250], 0.03, 200_000, calibrated_on_validation=False)
    assert both < oracle - 0.2
