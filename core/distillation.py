"""Distillation: a student learns from its teachers' averaged answers as well as from the true labels.

A preset with `teachers` (the `best` preset) first trains that many runs of
its `teacher_preset` on the student's own split, each with another seed, in
`<run>/teachers/teacher-N/` (whole runs: their own metrics, model and
history). Their answers on the training faces, mirrored and not, are
averaged; the student's training targets for gender and the age
distribution are then a mix of that average and the true label
(`TEACHER_WEIGHT`). Validation keeps the true labels, so the best epoch is
chosen as for any run. Inference is one model, the student's size.

Targets are the teachers' answers on the unaugmented faces, computed once
(about a minute for 17,000 faces and two teachers), not on each augmented
batch: the teachers would cost more than the student otherwise.
"""

from __future__ import annotations

import keras
import numpy as np

from core.evaluation import mirror

# Share of the teachers' answers in a training target (the rest is the true label), as in Hinton et al. (2015).
TEACHER_WEIGHT = 0.5
# Outputs whose teachers' answers become targets: probabilities a student can match.
TAUGHT_OUTPUTS = ("gender", "age_distribution")
_BATCH = 256


def teacher_answers(model: keras.Model, images: np.ndarray) -> dict[str, np.ndarray]:
    """A teacher's taught outputs for float faces, averaged with the mirrored faces' (as test-time scoring does)."""
    answers = {}
    for view in (images, mirror(images)):
        outputs = model.predict(view, batch_size=_BATCH, verbose=0)
        for name in TAUGHT_OUTPUTS:
            if name in outputs:
                answers[name] = answers.get(name, 0.0) + np.asarray(outputs[name], dtype=np.float32) / 2
    return answers


def average_answers(answers: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The teachers' answers averaged output by output."""
    return {name: np.mean([answer[name] for answer in answers], axis=0) for name in answers[0]}


def blend_targets(targets: dict[str, np.ndarray], taught: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """True-label targets with the teachers' average mixed into the outputs they answer for."""
    blended = dict(targets)
    for name, answer in taught.items():
        if name in blended:
            blended[name] = ((1 - TEACHER_WEIGHT) * blended[name] + TEACHER_WEIGHT * answer).astype(np.float32)
    return blended
