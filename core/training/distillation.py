"""Distillation: a student learns from its teachers' answers as well as from the true labels.

A preset with `teachers` (the `best` preset) first trains that many runs of
its `teacher_preset` on the student's own split, each with another seed, in
`<run>/teachers/teacher-N/` (whole runs: their own metrics, model and
history). While the student trains, the teachers answer every training batch
after augmentation, so the student is taught the answer for the rotated,
zoomed, shifted or mirrored face it sees ("consistent" teaching, Beyer et al.
2022, "Knowledge distillation: A good teacher is patient and consistent").
The student's targets for gender and the age distribution are a mix of the
teachers' averaged answers and the true label (`TEACHER_WEIGHT`). Validation
keeps the true labels, so the best epoch is chosen as for any run. Inference
is one model, the student's size.

Answers computed once on the unaugmented faces (the first `best`) taught the
upright face's answer for a rotated face and gained nothing
(docs/experiments.md). A teacher answers each face once, as the student sees
it (no mirrored second pass: the batch is already randomly mirrored). That
costs a teacher's forward pass per student step, in the input pipeline on
the CPU (teachers are loaded there, so that a GPU student's pipeline can run
them too); across workers (core.training.multi_worker) every worker runs the teachers
on every batch, as it augments every batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# Share of the teachers' answers in a training target (the rest is the true label), as in Hinton et al. (2015).
TEACHER_WEIGHT = 0.5
# Outputs whose teachers' answers become targets: probabilities a student can match.
TAUGHT_OUTPUTS = ("gender", "age_distribution")


def blend(target: tf.Tensor, answer: tf.Tensor) -> tf.Tensor:
    """A true-label target with a teachers' answer mixed in."""
    return (1 - TEACHER_WEIGHT) * target + TEACHER_WEIGHT * tf.cast(answer, target.dtype)


def taught_targets(teachers: list[keras.Model]):
    """For a training pipeline: (images, targets) -> the targets with the teachers' averaged answers on those images.

    Only the outputs in TAUGHT_OUTPUTS that the targets hold are taught; the
    others (age in years, ethnicity) stay the true labels.
    """

    def teach(images, targets):
        answers = [teacher(images, training=False) for teacher in teachers]
        taught = dict(targets)
        for name in TAUGHT_OUTPUTS:
            if name in targets:
                taught[name] = blend(targets[name], tf.add_n([answer[name] for answer in answers]) / len(answers))
        return taught

    return teach
