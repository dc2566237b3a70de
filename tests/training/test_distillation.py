"""Distillation: teachers train on the student's split, answer each augmented batch, and a stop anywhere resumes."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest

from core import runs
from core.config import TrainConfig
from core.data.augment import make_dataset
from core.data.loading import load_faces
from core.networks.build import build_model
from core.networks.presets import PRESETS, get_preset
from core.training.distillation import TEACHER_WEIGHT, taught_targets
from core.training.loop import resume, train
from core.training.prepare import targets_for
from dashboard import launcher
from tests.conftest import assert_beats_constant_answers
from tests.processes import wait_for


def test_each_augmented_face_is_taught_its_teachers_answer_for_that_face(shared_csv):
    faces, _ = load_faces(shared_csv)
    rows = np.arange(128)
    teachers = [build_model(get_preset("compact-dldl"), "both", dtype_policy="float32") for _ in range(2)]
    targets = targets_for(faces, rows, teachers[0].output_names)
    taught_batches = make_dataset(faces.images[rows], targets, 32, True, seed=3, teach=taught_targets(teachers))
    # The same pipeline untaught: the same shuffle, so the same faces' true labels, batch by batch.
    label_batches = make_dataset(faces.images[rows], targets, 32, True, seed=3)
    for (images, taught), (_, labels) in zip(taught_batches.take(2), label_batches.take(2), strict=True):
        answers = [teacher.predict(images.numpy(), verbose=0) for teacher in teachers]
        for name in ("gender", "age_distribution"):
            expected = (1 - TEACHER_WEIGHT) * labels[name].numpy() + TEACHER_WEIGHT * np.mean(
                [answer[name] for answer in answers], axis=0
            )
            np.testing.assert_allclose(
                taught[name].numpy(), expected, atol=1e-5, err_msg=f"{name}: the label and these faces' answers"
            )
        for name in ("age", "ethnicity"):  # Not taught: the true labels.
            np.testing.assert_array_equal(taught[name].numpy(), labels[name].numpy())
    nearest_raw_face = np.abs(faces.as_float(rows) - images.numpy()[0]).reshape(len(rows), -1).max(axis=1).min()
    assert nearest_raw_face > 0.01, "the faces were augmented before the teachers saw them"


@pytest.mark.slow  # Trains a real model or starts a real training process.
def test_a_best_run_trains_its_teacher_on_its_split_and_resumes_after_a_stop_in_the_teacher_and_in_the_student(
    shared_csv, tmp_path
):
    run_dir = tmp_path / "run"
    config = TrainConfig(task="both", preset="best", epochs=2, limit=4000, log_every_batches=2, csv_path=str(shared_csv))
    teacher = run_dir / runs.TEACHERS_DIR / "teacher-1"

    def stop_once_started(history_dir):
        def stop():
            wait_for(lambda: (history_dir / runs.HISTORY_FILE).is_file(), 600, f"{history_dir.name} to start", interval=0.05)
            runs.request_stop(run_dir)

        stopper = threading.Thread(target=stop, daemon=True)
        stopper.start()
        return stopper

    stopper = stop_once_started(teacher)
    stopped = train(config, run_dir=run_dir, verbose=0)
    stopper.join(timeout=5)
    assert stopped.status == runs.STOPPED and runs.load_run(run_dir).can_resume
    assert runs.read_status(teacher).state == runs.STOPPED
    assert not (run_dir / runs.MODEL_FILE).exists(), "no student before its teacher has finished"
    # The Train page follows the teacher in training while the run has no epochs of its own.
    live = launcher.live_training(run_dir)
    assert live.stage == "Teacher 1 of 1" and live.history == runs.read_history(teacher) and live.history
    assert (live.trainings_before, live.trainings_after) == (0, 1), "no teacher done, the student still to come"
    # A run begun by a recipe with more teachers is not finished by this one.
    (run_dir / runs.TEACHERS_DIR / "teacher-2").mkdir()
    with pytest.raises(ValueError, match="earlier 'best' recipe with 2 teachers"):
        resume(run_dir, verbose=0)
    (run_dir / runs.TEACHERS_DIR / "teacher-2").rmdir()

    stopper = stop_once_started(run_dir)
    stopped = resume(run_dir, verbose=0)
    stopper.join(timeout=5)
    assert stopped.status == runs.STOPPED and runs.read_status(teacher).state == runs.COMPLETED
    teacher_model_time = (teacher / runs.MODEL_FILE).stat().st_mtime_ns

    result = resume(run_dir, verbose=0)
    assert result.status == runs.COMPLETED
    assert (teacher / runs.MODEL_FILE).stat().st_mtime_ns == teacher_model_time, "a finished teacher is not trained again"
    split = np.load(run_dir / runs.SPLIT_FILE)
    teacher_split = np.load(teacher / runs.SPLIT_FILE)
    assert all(np.array_equal(split[part], teacher_split[part]) for part in ("train", "val", "test")), "the student's split"
    assert (
        runs.read_config(teacher).train.seed == config.seed + 1 and runs.read_config(teacher).train.preset.name == "compact-dldl"
    )

    faces, _ = load_faces(shared_csv)
    assert_beats_constant_answers(faces, split, result.test)  # The student learned, like any run.
    student = keras.saving.load_model(run_dir / runs.MODEL_FILE)
    assert sorted(student.output_names) == ["age", "age_distribution", "gender"]


def test_every_preset_with_teachers_is_taught_by_a_listed_preset_without_teachers():
    with_teachers = [recipe for recipe in PRESETS.values() if recipe.teachers]
    assert with_teachers, "the best preset distils"
    for recipe in with_teachers:
        assert recipe.teacher_preset in PRESETS.values() and not recipe.teacher_preset.teachers, recipe.name
