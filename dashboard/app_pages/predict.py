"""Predict page: upload photos (or take one with the camera), get age and gender of every face, and see why."""

import numpy as np
import streamlit as st

from core import runs
from core.evaluation.calibration import DEFAULT_LEVEL, LEVELS
from core.explain.maps import METHOD_LABELS, overlay
from dashboard import loaders, widgets
from dashboard.photos import face_label, face_numbers, faces_table

BOTH_MODE, PAIR_MODE = "One run with both heads", "A gender run and an age run"
PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]
HEAD_TITLES = {"gender": "gender", "age": "age ↑"}

st.title("Predict")
st.caption(
    "Every face in your photos is found, aligned on its eyes and cut to 48x48 grayscale like the training faces; "
    "the models then give its age and gender, and a CAM shows where each model looked."
)

usable = runs.runs_by_task(runs.available_runs())
if not any(usable.values()):
    st.info(
        "No finished run with a model yet, so there is nothing to predict with. Train a model on the Train page first.",
        icon=":material/info:",
    )
    st.page_link(widgets.TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
    st.stop()

by_id = {run.run_id: run for task_runs in usable.values() for run in task_runs}
default = runs.default_runs(usable)
modes = [mode for mode, present in ((BOTH_MODE, usable["both"]), (PAIR_MODE, usable["gender"] or usable["age"])) if present]
default_mode = BOTH_MODE if default[0].task == "both" else PAIR_MODE
mode = st.radio("Models", modes, index=modes.index(default_mode), horizontal=True, key="predict-mode")
if mode == BOTH_MODE:
    ids = [run.run_id for run in usable["both"]]
    chosen_ids = [
        st.selectbox("Run", ids, format_func=lambda run_id: widgets.describe_run(by_id[run_id]), key="predict-both-run")
    ]
else:
    chosen_ids = []
    for column, task in zip(st.columns(2), ("gender", "age"), strict=True):
        ids = [None] + [run.run_id for run in usable[task]]
        proposed = usable[task][0].run_id if usable[task] else None  # The newest of its task.
        chosen_ids.append(column.selectbox(
            f"{task.capitalize()} run", ids, index=ids.index(proposed), key=f"predict-{task}-run",
            format_func=lambda run_id: "none" if run_id is None else widgets.describe_run(by_id[run_id]),
        ))  # fmt: skip
    chosen_ids = [run_id for run_id in chosen_ids if run_id is not None]
    if not chosen_ids:
        st.warning("Choose a gender run, an age run or both.", icon=":material/warning:")
        st.stop()
run_dirs = [by_id[run_id].run_dir for run_id in chosen_ids]

upload_column, option_column = st.columns([3, 1])
uploads = upload_column.file_uploader(
    "Photos (JPEG, PNG or WebP)", type=PHOTO_TYPES, accept_multiple_files=True, key="predict-uploads"
)
method = option_column.selectbox("CAM method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="predict-cam-method")
level = option_column.selectbox(
    "Age interval", LEVELS, index=LEVELS.index(DEFAULT_LEVEL), format_func=lambda value: f"{value:.0%} of true ages inside",
    key="predict-level", help="Fitted on the run's validation faces: the true age lies inside this share of the time.",
)  # fmt: skip
# Off by default, so the browser does not ask for the camera on every visit.
use_camera = option_column.toggle("Use the camera", key="predict-camera")
shot = st.camera_input("Take a picture", key="predict-camera-shot") if use_camera else None
images = [(upload.name, upload.getvalue()) for upload in uploads or []]
if shot is not None:
    images.append(("camera.jpg", shot.getvalue()))
if not images:
    st.info("Upload one or more photos, or take a picture with the camera.", icon=":material/add_a_photo:")
    st.stop()

try:
    predictor = loaders.load_predictor(run_dirs)
except ValueError as error:
    st.error(f"Cannot use these runs: {error}", icon=":material/error:")
    st.stop()
loaders.load_face_detector()
uncalibrated = [head for head in predictor.heads if head not in predictor.calibrations]
if uncalibrated:
    run_dir = predictor.run_dirs[uncalibrated[0]]
    st.caption(
        f"Run `{run_dir.name}` was trained before calibration existed: its ages come without an interval and its "
        f"P(female) as the network gives it. `python -m core calibrate {run_dir}` calibrates it."
    )

predicted = []
for index, (name, data) in enumerate(images):
    st.subheader(name, divider="gray")
    try:
        photo, picture = loaders.predict_upload(run_dirs, data, "report", level)
        if not photo.faces:
            st.warning(photo.message, icon=":material/face_retouching_off:")
            if not st.toggle("Read the whole image as one face chip", key=f"predict-whole-image-{index}-{name}"):
                continue
            photo, picture = loaders.predict_upload(run_dirs, data, "whole-image", level)
    except ValueError as error:  # Not an image, damaged, or over the pixel limit: core says which.
        st.error(f"Cannot read {name}: {error}", icon=":material/broken_image:")
        continue
    predicted.append((name, photo))
    photo_column, faces_column = st.columns(2)
    # JPEG: a photo-sized PNG takes ~75 ms to encode on every rerun, a JPEG ~2 ms.
    photo_column.image(picture, output_format="JPEG", caption=f"{photo.width}x{photo.height} · {len(photo.faces)} face(s)"
                       + (f" · {photo.message}" if photo.message else ""))  # fmt: skip
    with faces_column:
        slots = []
        for number, face in enumerate(photo.faces, start=1):
            st.markdown(f"**Face {face_label(number, face)}**")
            st.caption(face_numbers(face))
            for warning in face.warnings:
                st.warning(warning, icon=":material/warning:")
            slots.append(st.empty())
    # The CAMs come last, into their slots: age and gender show while they are computed (~100 ms a head).
    crops = np.stack([face.crop for face in photo.faces])  # (n, 48, 48, 1)
    maps = {head: loaders.heatmaps(run_dirs, head, method, crops) for head in predictor.heads}
    for position, (slot, face) in enumerate(zip(slots, photo.faces, strict=True)):
        slot.image(
            [face.crop[:, :, 0]] + [overlay(face.crop, maps[head][position]) for head in predictor.heads],
            caption=["what the models saw"] + [f"{HEAD_TITLES[head]}: {METHOD_LABELS[method]}" for head in predictor.heads],
            width=128,
        )

if predicted:
    st.subheader("All faces", divider="gray")
    table = faces_table(predicted)
    st.dataframe(table, hide_index=True)
    st.download_button(
        "Download the faces as CSV",
        table.to_csv(index=False),
        file_name="faces.csv",
        mime="text/csv",
        icon=":material/download:",
        key="predict-download",
    )
