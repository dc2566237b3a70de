"""Honest answers: age intervals that hold for every age, and a P(female) that means what it says.

Both are fitted on a run's validation split, which the model never trained
on and the test split never sees:

- **Age intervals** by label-conditional (Mondrian) split conformal
  prediction over the *true* age's bucket (core.labels' buckets). For
  each bucket the validation faces whose true age lies in it keep their
  signed errors (true - predicted age); an age y is admitted for a face
  predicted at p when y - p lies between the two quantiles of the errors of
  y's bucket. The interval shown is the span of all admitted ages. Each
  bucket's quantile level is set so that this interval covers the asked
  share of that bucket's validation faces (the span admits a little more
  than the rules, so a bucket's level ends up somewhat below the asked one),
  judged by 5-fold cross-validation so that the tuning does not fit the very
  faces it is judged on. That tuning trades split conformal's finite-sample
  guarantee for buckets that each come close to the level; a bucket with
  fewer than `MIN_TUNED_FACES` validation faces is not tuned and keeps the
  guarantee (a wider interval). The calibration is fitted on the int8 copy's
  predictions, which score the test split; the photo path's float model
  differs from them by hundredths of a year.
  Why by the true age and not by the predicted one: the models pull ages
  toward the middle (teenagers guessed older, the old younger), so intervals
  by predicted age held for 81 % of all test faces but for 45 % of
  teenagers and 94 % of babies (the starter run, 80 % intervals); by true
  age every bucket comes close to the level asked, within the sampling error
  of about a hundred validation faces per bucket.
- **Gender** by temperature scaling (Guo et al., 2017): the log-odds of
  P(female) divided by one number T, fitted to minimise the validation log
  loss. It never changes which gender is predicted, only how sure it says it is.

A few lines of numpy rather than MAPIE or crepes: neither offers intervals
conditioned on the true value's group for regression, the calibration has
to be saved in the run as plain JSON and read without the library, and the
photo path applies it to one face at a time.

    calibration = fit_calibration(val_age, val_pred_age, val_gender, val_p_female)
    runs.write_calibration(run_dir, calibration)    # calibration.json (core.runs.store)
    calibration = runs.read_calibration(run_dir)    # None for runs without one
    calibration.female_probability(p_female)        # calibrated
    calibration.age_interval(pred_age, level=0.8)   # (low, high) arrays
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from core.evaluation.metrics import age_bucket
from core.labels import AGE_BUCKET_EDGES, AGE_BUCKET_LABELS, MAX_AGE

DEFAULT_LEVEL = 0.8
LEVELS = (0.5, 0.8, 0.9, 0.95)
# Bins of the expected calibration error (equal width over [0, 1]).
ECE_BINS = 10
# Temperatures tried, as log T: 0.05 to 20, fine enough that the log loss is flat at the optimum.
_LOG_TEMPERATURES = np.linspace(np.log(0.05), np.log(20.0), 1201)
_EPSILON = 1e-6
# Every age an interval can hold (their buckets: _AGE_BUCKETS, below).
_AGES = np.arange(0, MAX_AGE + 1)
# Folds of the validation faces that tune the per-bucket levels (each judged by bounds fitted without it).
_TUNING_FOLDS = 5
# Rounds of the per-bucket level search; the coverage moves by under 0.1 % after ten.
_LEVEL_ROUNDS = 12
# A bucket with fewer validation faces keeps the level asked, with the (n + 1) correction that makes a
# small bucket's interval wider, not narrower: tuning on a handful of faces would promise what they cannot show.
MIN_TUNED_FACES = 30


@dataclasses.dataclass(frozen=True, eq=False)
class Calibration:
    temperature: float
    # The validation faces' true and predicted ages (empty for a run without an age head).
    validation_age: np.ndarray
    validation_predicted: np.ndarray
    validation_faces: int
    # Expected calibration error of P(female) on the validation split, before and after.
    ece_before: float | None = None
    ece_after: float | None = None
    # Per level asked, the buckets' error bounds (tuning them takes a few milliseconds; a page asks on every face).
    _bounds: dict = dataclasses.field(default_factory=dict, repr=False)

    def female_probability(self, probability) -> np.ndarray:
        """Calibrated P(female) of raw ones (scalar or array)."""
        logit = _logit(np.asarray(probability, dtype=np.float64))
        return 1.0 / (1.0 + np.exp(-logit / self.temperature))

    def age_interval(self, predicted_age, level: float = DEFAULT_LEVEL) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the interval at `level` around each predicted age, in whole years."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"the interval level must lie strictly between 0 and 1, got {level}")
        if len(self.validation_age) == 0:
            raise ValueError("this calibration has no ages: its run predicts no age")
        if level not in self._bounds:
            self._bounds[level] = self._bucket_bounds(level)
        return _span(np.atleast_1d(np.asarray(predicted_age, dtype=np.float64)), *self._bounds[level])

    def _bucket_bounds(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Per bucket, the lowest and highest error (true - predicted) its ages may show, at the tuned levels.

        Each level is tuned by cross-validation: the faces of one fold are
        judged by bounds fitted on the other folds. Judged by the bounds they
        helped fit, as at first, the intervals held 3 to 5 points less than
        asked on new faces in the small buckets.
        """
        fold = np.random.default_rng(0).permutation(len(self.validation_age)) % _TUNING_FOLDS
        buckets = _bucket_of(self.validation_age)
        fold_errors = [
            _sorted_errors(self.validation_age[fold != k], self.validation_predicted[fold != k]) for k in range(_TUNING_FOLDS)
        ]
        levels = np.full(len(AGE_BUCKET_LABELS), level)
        for _ in range(_LEVEL_ROUNDS):
            covered = np.zeros(len(self.validation_age), dtype=bool)
            for k in range(_TUNING_FOLDS):
                held = fold == k
                low, high = _span(self.validation_predicted[held], *_quantile_bounds(fold_errors[k], levels))
                covered[held] = (self.validation_age[held] >= low) & (self.validation_age[held] <= high)
            for bucket in range(len(levels)):
                if np.count_nonzero(buckets == bucket) >= MIN_TUNED_FACES:
                    # The span admits more than the rules: lower the bucket's level by what it overshoots.
                    share = covered[buckets == bucket].mean()
                    levels[bucket] = np.clip(levels[bucket] - 0.5 * (share - level), 0.05, 0.999)
        return _quantile_bounds(_sorted_errors(self.validation_age, self.validation_predicted), levels)

    def to_json(self) -> dict:
        return {
            "method": "label-conditional split conformal over the true age's bucket; temperature scaling for gender",
            "validation_faces": self.validation_faces,
            "gender": {"temperature": self.temperature, "ece_before": self.ece_before, "ece_after": self.ece_after},
            "age": {
                "true": self.validation_age.astype(int).tolist(),
                "predicted": np.round(self.validation_predicted, 2).tolist(),
            },
        }

    @classmethod
    def from_json(cls, values: dict) -> Calibration:
        gender, age = values["gender"], values["age"]
        return cls(
            gender["temperature"],
            np.asarray(age["true"], dtype=np.float64),
            np.asarray(age["predicted"], dtype=np.float64),
            values["validation_faces"],
            gender.get("ece_before"),
            gender.get("ece_after"),
        )


def fit_calibration(age, predicted_age, gender, female_probability) -> Calibration:
    """Fit both calibrations on validation faces: true ages and genders beside what the model predicted.

    Either head may be missing (None): a gender-only run gets temperature 1
    and no ages, an age-only run no gender figures.
    """
    temperature, before, after = 1.0, None, None
    if female_probability is not None:
        is_female = np.asarray(gender) == 1
        logits = _logit(np.asarray(female_probability, dtype=np.float64))
        temperature = _best_temperature(logits, is_female)
        before = expected_calibration_error(np.asarray(female_probability, dtype=np.float64), is_female)
        after = expected_calibration_error(1.0 / (1.0 + np.exp(-logits / temperature)), is_female)
    ages = np.empty(0) if predicted_age is None else np.asarray(age, dtype=np.float64)
    # Rounded as calibration.json stores them, so a calibration and the one read back give the same intervals.
    predicted = np.empty(0) if predicted_age is None else np.round(np.asarray(predicted_age, dtype=np.float64), 2)
    count = len(gender) if gender is not None else len(ages)
    return Calibration(float(temperature), ages, predicted, int(count), before, after)


def _bucket_of(ages: np.ndarray) -> np.ndarray:
    return np.searchsorted(AGE_BUCKET_EDGES, ages, side="right") - 1


_AGE_BUCKETS = _bucket_of(_AGES)


def _sorted_errors(ages: np.ndarray, predicted: np.ndarray) -> list[np.ndarray]:
    """Per true-age bucket, the errors (true - predicted) of its faces, sorted."""
    buckets, errors = _bucket_of(ages), ages - predicted
    return [np.sort(errors[buckets == bucket]) for bucket in range(len(AGE_BUCKET_LABELS))]


def _quantile_bounds(sorted_errors: list[np.ndarray], levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bucket, the (1 - level)/2 and (1 + level)/2 quantiles of its errors, with the (n + 1) finite-sample correction.

    A bucket without validation faces admits any error (nothing says its ages are unlikely).
    """
    lower, upper = np.full(len(sorted_errors), -np.inf), np.full(len(sorted_errors), np.inf)
    for bucket, (errors, level) in enumerate(zip(sorted_errors, levels, strict=True)):
        count, alpha = len(errors), 1.0 - level
        low_rank, high_rank = int(np.floor((count + 1) * alpha / 2)), int(np.ceil((count + 1) * (1 - alpha / 2)))
        if 1 <= low_rank:
            lower[bucket] = errors[low_rank - 1]
        if high_rank <= count:
            upper[bucket] = errors[high_rank - 1]
    return lower, upper


def _span(predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the youngest and oldest age each prediction admits, age y admitted when y - p is within y's bucket bounds."""
    errors = _AGES[None, :] - predicted[:, None]  # (faces, ages)
    admitted = (errors >= lower[_AGE_BUCKETS][None, :]) & (errors <= upper[_AGE_BUCKETS][None, :])
    # A prediction no rule admits (far outside everything seen) gets the nearest whole age alone.
    nearest = np.clip(np.rint(predicted), 0, MAX_AGE)
    low = np.where(admitted.any(axis=1), _AGES[np.argmax(admitted, axis=1)], nearest)
    high = np.where(admitted.any(axis=1), _AGES[len(_AGES) - 1 - np.argmax(admitted[:, ::-1], axis=1)], nearest)
    return low.astype(np.float64), high.astype(np.float64)


def _logit(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(probability, _EPSILON, 1.0 - _EPSILON)
    return np.log(clipped) - np.log1p(-clipped)


def _best_temperature(logits: np.ndarray, is_female: np.ndarray) -> float:
    """The T minimising the log loss of sigmoid(logit / T), over a fine grid of log T."""
    scaled = logits[None, :] / np.exp(_LOG_TEMPERATURES)[:, None]  # (temperatures, faces)
    # -log sigmoid(z) = log(1 + e^-z), written stably with logaddexp.
    losses = np.where(is_female[None, :], np.logaddexp(0.0, -scaled), np.logaddexp(0.0, scaled)).mean(axis=1)
    return float(np.exp(_LOG_TEMPERATURES[np.argmin(losses)]))


def expected_calibration_error(female_probability: np.ndarray, is_female: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |predicted - observed share female| over equal-width probability bins, weighted by the faces in each."""
    probability = np.asarray(female_probability, dtype=np.float64)
    which = np.minimum((probability * bins).astype(int), bins - 1)
    total = 0.0
    for bin_index in np.unique(which):
        inside = which == bin_index
        total += inside.sum() * abs(probability[inside].mean() - np.asarray(is_female)[inside].mean())
    return float(total / max(1, len(probability)))


def coverage_table(frame: pd.DataFrame, calibration: Calibration, levels=(0.8, 0.9)) -> list[dict]:
    """Observed coverage and mean width of the intervals at each level, overall and per true-age bucket.

    `frame` has the true `age` and the predicted `pred_age` of each face (a predictions frame).
    """
    rows = []
    buckets = age_bucket(frame["age"])
    for level in levels:
        low, high = calibration.age_interval(frame["pred_age"].to_numpy(), level)
        covered = (frame["age"].to_numpy() >= low) & (frame["age"].to_numpy() <= high)
        width = high - low
        rows.append(
            {
                "level": level,
                "age_bucket": "all",
                "n": len(frame),
                "coverage": float(covered.mean()),
                "mean_width": float(width.mean()),
            }
        )
        for bucket in buckets.categories:
            inside = np.asarray(buckets == bucket)
            if inside.any():
                rows.append(
                    {
                        "level": level,
                        "age_bucket": str(bucket),
                        "n": int(inside.sum()),
                        "coverage": float(covered[inside].mean()),
                        "mean_width": float(width[inside].mean()),
                    }
                )
    return rows


def calibrate_predictions(frame: pd.DataFrame, calibration: Calibration, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """A predictions frame with calibrated P(female) and the age interval at `level` added.

    The network's own probability stays beside the calibrated one as
    `pred_gender_prob_raw` (a frame calibrated before is calibrated again from
    it); the predicted gender cannot change, since a temperature keeps the
    side of 0.5 a probability is on.
    """
    frame = frame.copy()
    if "pred_gender_prob" in frame:
        raw = frame["pred_gender_prob_raw"] if "pred_gender_prob_raw" in frame else frame["pred_gender_prob"]
        frame["pred_gender_prob_raw"] = raw
        frame["pred_gender_prob"] = calibration.female_probability(raw.to_numpy()).round(4)
    if "pred_age" in frame and len(calibration.validation_age):
        low, high = calibration.age_interval(frame["pred_age"].to_numpy(), level)
        frame["age_low"], frame["age_high"], frame["interval_level"] = low.round(2), high.round(2), level
    return frame


def calibration_report(frame: pd.DataFrame, calibration: Calibration) -> dict:
    """How well a calibrated predictions frame's answers hold: interval coverage by age bucket, and P(female)'s ECE before and after."""
    report = {}
    if "age_low" in frame:
        report["coverage"] = coverage_table(frame, calibration)
    if "pred_gender_prob_raw" in frame:
        is_female = frame["gender"].to_numpy() == 1
        report["gender_ece"] = {
            "before": expected_calibration_error(frame["pred_gender_prob_raw"].to_numpy(), is_female),
            "after": expected_calibration_error(frame["pred_gender_prob"].to_numpy(), is_female),
            "temperature": calibration.temperature,
        }
    return report
