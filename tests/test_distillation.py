"""Distillation: teachers train on the student's split, their answers become targets, and a stop during a teacher resumes."""

from __future__ import annotations

import threading

import keras
import numpy as np

from core import runs
from core.config import TrainConfig
from core.data import load_faces
from core.distillation import TEACHER_WEIGHT, average_answers, blend_targets, teacher_answers
from core.evaluation import mirror
from core.presets import PRESETS, get_preset
from core.training import resume, targets_for, train
from dashboard import launcher
from tests.conftest import assert_beats_constant_answers
from tests.processes import wait_for


def test_targets_are_the_true_label_mixed_with_the_teachers_average():
    true = {"gender": np.array([[1.0, 0.0]], np.float32), "age": np.array([[30.0]], np.float32)}
    answers = [{"gender": np.array([[0.6, 0.4]], np.float32)}, {"gender": np.array([[0.2, 0.8]], np.float32)}]
    blended = blend_targets(true, average_answers(answers))
    # By hand: the teachers average (0.4, 0.6); the target is the share TEACHER_WEIGHT of that, the rest the label.
    expected = (1 - TEACHER_WEIGHT) * np.array([1.0, 0.0]) + TEACHER_WEIGHT * np.array([0.4, 0.6])
    np.testing.assert_allclose(blended["gender"][0], expected, rtol=1e-6)
    np.testing.assert_allclose(blended["gender"].sum(axis=1), 1.0, rtol=1e-6)
    assert blended["age"] is true["age"], "ages are not taught: the student learns them from the labels"


def test_a_best_run_trains_its_teachers_on_its_split_and_resumes_after_a_stop_during_a_teacher(shared_csv, tmp_path):
    run_dir = tmp_path / "run"
    config = TrainConfig(task="both", preset="best", epochs=2, limit=4000, log_every_batches=2, csv_path=str(shared_csv))
    second = run_dir / runs.TEACHERS_DIR / "teacher-2"

    def stop_when_the_second_teacher_trains():
        wait_for(lambda: (second / runs.HISTORY_FILE).is_file(), 600, "the second teacher to start", interval=0.05)
        runs.request_stop(run_dir)

    stopper = threading.Thread(target=stop_when_the_second_teacher_trains, daemon=True)
    stopper.start()
    stopped = train(config, run_dir=run_dir, verbose=0)
    stopper.join(timeout=5)
    first = run_dir / runs.TEACHERS_DIR / "teacher-1"
    assert stopped.status == runs.STOPPED and runs.load_run(run_dir).can_resume
    assert runs.read_status(first).state == runs.COMPLETED and runs.read_status(second).state == runs.STOPPED
    assert not (run_dir / runs.MODEL_FILE).exists(), "no student before every teacher has finished"
    first_model_time = (first / runs.MODEL_FILE).stat().st_mtime_ns
    # The Train page follows the teacher in training while the run has no epochs of its own.
    live = launcher.live_training(run_dir)
    assert live.stage == "Teacher 2 of 2" and live.history == runs.read_history(second) and live.history
    assert (live.trainings_before, live.trainings_after) == (1, 1), "teacher 1 done, the student still to come"

    result = resume(run_dir, verbose=0)
    assert result.status == runs.COMPLETED
    assert (first / runs.MODEL_FILE).stat().st_mtime_ns == first_model_time, "a finished teacher is not trained again"
    assert runs.read_status(second).state == runs.COMPLETED
    split = np.load(run_dir / runs.SPLIT_FILE)
    for teacher, seed in ((first, config.seed + 1), (second, config.seed + 2)):
        teacher_split = np.load(teacher / runs.SPLIT_FILE)
        assert all(np.array_equal(split[part], teacher_split[part]) for part in ("train", "val", "test")), "the student's split"
        assert runs.read_config(teacher).train.seed == seed and runs.read_config(teacher).train.preset == "compact-dldl"

    faces, _ = load_faces(shared_csv)
    assert_beats_constant_answers(faces, split, result.test)  # The student learned, like any run.

    # What the student was taught: each teacher's answers, mirrored and not, averaged.
    images = faces.as_float(split["train"][:64])
    models = [runs.load_run(teacher).load_model() for teacher in (first, second)]
    by_hand = np.mean([(model.predict(images, verbose=0)["gender"] + model.predict(mirror(images), verbose=0)["gender"]) / 2
                       for model in models], axis=0)  # fmt: skip
    np.testing.assert_allclose(average_answers([teacher_answers(model, images) for model in models])["gender"], by_hand, atol=1e-5)
    student = keras.saving.load_model(run_dir / runs.MODEL_FILE)
    assert sorted(student.output_names) == ["age", "age_distribution", "gender"]
    assert set(targets_for(faces, split["train"][:4], student.output_names)) == {"gender", "age", "age_distribution"}


def test_every_preset_with_teachers_names_a_preset_without_teachers():
    with_teachers = [recipe for recipe in PRESETS.values() if recipe.teachers]
    assert with_teachers, "the best preset distils"
    for recipe in with_teachers:
        assert recipe.teacher_preset in PRESETS and not get_preset(recipe.teacher_preset).teachers, recipe.name
