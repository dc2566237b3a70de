"""What a run directory holds: the registry of its files, and the states a run can be in.

    runs/<run_id>/
        config.json      RunConfig: the TrainConfig and where the run's data came from
        split.npz        train / val / test row positions
        history.jsonl    HistoryRecord per epoch and per N batches, appended live
        status.json      Status: running / completed / stopped / failed, times, error, resumes
        model.keras      the best model so far by validation, written atomically
        model.int8.xml   the final model quantized to int8 for fast batch inference
        model.int8.bin   (with its weights beside it), written when training ends
        metrics.json     RunMetrics: final test metrics, breakdowns, interval coverage
        predictions.csv  one row per test face
        calibration.json age intervals and the P(female) temperature (core.evaluation.calibration)
        MODEL_CARD.md    the model card (core.runs.model_card)
        checkpoint/      the last whole epoch's state, for --resume
        tensorboard/     TensorBoard's logs
        export/          ONNX, LiteRT, SavedModel exports (core.inference.export)

`FILES` is the registry of everything a run directory may hold; each file's
shape is one dataclass in core.runs.records. This module also names the
states a run can be in (core.runs.lifecycle moves a run between them).
"""

from __future__ import annotations

import dataclasses

from core.paths import STUDIES_FOLDER, USER_PRESETS_FOLDER


@dataclasses.dataclass(frozen=True)
class RunFile:
    name: str
    holds: str
    # Written by a training: deleted before another training starts in the same directory.
    from_training: bool = True


FILES = (
    CONFIG := RunFile("config.json", "everything needed to repeat the run", from_training=False),
    STATUS := RunFile("status.json", "running / completed / stopped / failed, times, error", from_training=False),
    # The dashboard's launcher writes the trainer's output here before the trainer starts.
    LOG := RunFile("train.log", "what the training process printed", from_training=False),
    SPLIT := RunFile("split.npz", "train / val / test row positions"),
    HISTORY := RunFile("history.jsonl", "one record per epoch and per N batches, appended live"),
    MODEL := RunFile("model.keras", "the best model so far by validation, float32"),
    INT8_MODEL := RunFile("model.int8.xml", "the best model quantized to int8, for batch inference"),
    INT8_WEIGHTS := RunFile("model.int8.bin", "the int8 model's weights"),
    METRICS := RunFile("metrics.json", "final test metrics and breakdowns"),
    PREDICTIONS := RunFile("predictions.csv", "one row per test face"),
    CALIBRATION := RunFile("calibration.json", "age intervals and the P(female) temperature, fitted on the validation split"),
    MODEL_CARD := RunFile("MODEL_CARD.md", "what the model predicts, how well, and its limitations"),
    STOP := RunFile("STOP", "present while a stop of the training is requested"),
    # Keras' BackupAndRestore backup (weights, optimizer state, epoch) and the best-model keeper's
    # state, after every whole epoch: what --resume continues from. Deleted when a run completes.
    CHECKPOINT := RunFile("checkpoint", "the state after the last whole epoch, for --resume (a folder)"),
    TENSORBOARD := RunFile("tensorboard", "TensorBoard's logs: scalars per epoch and per N batches, the graph (a folder)"),
    EXPORT := RunFile("export", "the model as ONNX, LiteRT or a SavedModel (core.inference.export; a folder)"),
    # A preset with teachers (core.training.distillation) trains them first, each a whole run of its own here.
    TEACHERS := RunFile("teachers", "the teachers' runs, teacher-1, teacher-2, ... (presets with teachers; a folder)"),
)
CONFIG_FILE, STATUS_FILE, LOG_FILE = CONFIG.name, STATUS.name, LOG.name
SPLIT_FILE, HISTORY_FILE, MODEL_FILE = SPLIT.name, HISTORY.name, MODEL.name
INT8_MODEL_FILE, INT8_WEIGHTS_FILE, METRICS_FILE = INT8_MODEL.name, INT8_WEIGHTS.name, METRICS.name
PREDICTIONS_FILE, STOP_FILE = PREDICTIONS.name, STOP.name
CALIBRATION_FILE, MODEL_CARD_FILE, CHECKPOINT_DIR = CALIBRATION.name, MODEL_CARD.name, CHECKPOINT.name
TENSORBOARD_DIR, EXPORT_DIR, TEACHERS_DIR = TENSORBOARD.name, EXPORT.name, TEACHERS.name

RUNNING, COMPLETED, STOPPED, FAILED = "running", "completed", "stopped", "failed"
# A tuning trial ended early by the study's pruner (core.tuning): it keeps its history, not (by default) its model.
PRUNED = "pruned"
# A run whose status says running but whose process is gone (killed, machine
# restarted) is shown as interrupted; it is never written to disk as such.
INTERRUPTED = "interrupted"
# Finished with a best model kept: what the result pages can use.
FINISHED = (COMPLETED, STOPPED)
# Ended before its last epoch (on request, by a kill, or by an error): what --resume can continue.
RESUMABLE = (STOPPED, INTERRUPTED, FAILED)
# Folders of the runs folder that are not runs: the tuning studies' storage and the user's presets.
NOT_RUNS = (STUDIES_FOLDER, USER_PRESETS_FOLDER)
# What runs from before a setting existed did: the seed recipe, and a split
# that did not keep copies of a face together.
LEGACY_SETTINGS = {"preset": "seed", "split": "stratified"}

__all__ = [
    "RunFile",
    "CALIBRATION",
    "CALIBRATION_FILE",
    "CHECKPOINT",
    "CHECKPOINT_DIR",
    "COMPLETED",
    "CONFIG",
    "CONFIG_FILE",
    "EXPORT",
    "EXPORT_DIR",
    "FAILED",
    "FILES",
    "FINISHED",
    "HISTORY",
    "HISTORY_FILE",
    "INT8_MODEL",
    "INT8_MODEL_FILE",
    "INT8_WEIGHTS",
    "INT8_WEIGHTS_FILE",
    "INTERRUPTED",
    "LEGACY_SETTINGS",
    "LOG",
    "LOG_FILE",
    "METRICS",
    "METRICS_FILE",
    "MODEL",
    "MODEL_CARD",
    "MODEL_CARD_FILE",
    "MODEL_FILE",
    "NOT_RUNS",
    "PREDICTIONS",
    "PREDICTIONS_FILE",
    "PRUNED",
    "RESUMABLE",
    "RUNNING",
    "SPLIT",
    "SPLIT_FILE",
    "STATUS",
    "STATUS_FILE",
    "STOP",
    "STOPPED",
    "STOP_FILE",
    "TEACHERS",
    "TEACHERS_DIR",
    "TENSORBOARD",
    "TENSORBOARD_DIR",
]
