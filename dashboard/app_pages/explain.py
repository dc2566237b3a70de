"""Explain page: where a run's models look, as CAMs of chosen test faces and as maps averaged over groups of faces."""

import streamlit as st

from core.explain.maps import METHOD_LABELS, overlay
from dashboard import explaining, loaders, tables, widgets

WORST_AGE, WORST_GENDER = "Largest age errors", "Most confident gender mistakes"
CHOSEN, TYPED = "Chosen on other pages", "Row ids"
MAX_FACES = 12
# Faces per group behind each average map: enough for a stable average, few
# enough that all groups of both heads take a few seconds once (then kept).
AVERAGE_SAMPLE = 64
HEAD_TITLES = {"gender": "Gender (the predicted class)", "age": "Age (what pushes it up)"}

st.title("Explain")
st.caption(
    "Class activation maps of a run's models on its test faces: red where the evidence for the prediction lies. "
    "Gender maps explain the class each face was predicted as; age maps show what pushes the predicted age up."
)
run, frame = widgets.pick_run_with_predictions("explanation")
if not run.has_model:
    st.info(f"Run {run.run_id} has no model.keras, so there is nothing to explain.", icon=":material/info:")
    st.stop()
faces = widgets.run_faces_or_explain(run)
if faces is None:
    st.stop()
try:
    predictor = loaders.load_predictor([run.run_dir])
except ValueError as error:
    st.error(f"Cannot load the model of run {run.run_id}: {error}", icon=":material/error:")
    st.stop()
heads = predictor.heads
chosen = widgets.chosen_faces()
worst = [label for label, column in ((WORST_AGE, "age_error"), (WORST_GENDER, "pred_gender")) if column in frame]
sources = worst + [CHOSEN, TYPED]
source = st.segmented_control("Faces", sources, default=CHOSEN if chosen else sources[0], key="explain-source") or sources[0]

missing = []
if source in (WORST_AGE, WORST_GENDER):
    count = st.slider("How many faces", 1, MAX_FACES, 4, key="explain-count")
    picked = explaining.worst_faces(frame, "age" if source == WORST_AGE else "gender", count)
elif source == CHOSEN:
    if not chosen:
        st.info(
            "No face chosen yet: open a face's *Details* on the Predictions page and press *Explain this face*, "
            "or select faces on the Errors page and press *Explain these faces*.",
            icon=":material/touch_app:",
        )
    elif st.button("Forget the chosen faces", type="tertiary", icon=":material/clear_all:"):
        widgets.forget_chosen_faces()
        st.rerun()
    picked, missing = explaining.faces_by_row_id(frame, chosen)
else:
    text = st.text_input("Row ids", placeholder="e.g. 120, 4031", key="explain-row-ids",
                         help="A face's row id is in its details on the Predictions page.")  # fmt: skip
    try:
        typed = explaining.parse_row_ids(text)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        typed = []
    picked, missing = explaining.faces_by_row_id(frame, typed[:MAX_FACES])
if missing:
    st.warning(f"Not in the test split of run {run.run_id}, so not shown: row id(s) {', '.join(map(str, missing))}.")
if picked.empty and source == WORST_GENDER:
    st.success("This run got the gender of every test face right.")

if not picked.empty:
    row_ids = picked["row_id"].to_numpy()
    images = faces.images[row_ids]  # (n, 48, 48, 1) uint8
    columns = [(head, method) for head in heads for method in METHOD_LABELS]
    maps = {(head, method): loaders.heatmaps([run.run_dir], head, method, images) for head, method in columns}
    widths = [1] * (1 + len(columns))
    titles = ["Face: true → predicted"] + [f"{head}: {METHOD_LABELS[method]}" for head, method in columns]
    for cell, title in zip(st.columns(widths), titles, strict=True):
        cell.caption(f"**{title}**")
    for position, row in enumerate(picked.itertuples()):
        cells = st.columns(widths)
        cells[0].image(images[position][:, :, 0], caption=f"{tables.prediction_caption(row)} · row {row.row_id}", width="stretch")
        for cell, column in zip(cells[1:], columns, strict=True):
            cell.image(overlay(images[position], maps[column][position]), width="stretch")

st.subheader("Average maps per group", divider="gray")
method_column, note_column = st.columns([1, 3], vertical_alignment="bottom")
method = method_column.selectbox("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="explain-average-method")
note_column.caption(
    f"Each map is the mean over up to {AVERAGE_SAMPLE} test faces of a true gender or age bucket (a fixed sample), "
    "drawn over the group's mean face and scaled to its own maximum."
)
# One row of maps per grouping; group labels ("female", "20-29") never clash, so one call computes both.
groupings = [explaining.group_samples(frame, column, AVERAGE_SAMPLE) for column in ("gender_name", "age_bucket")]
every_group = {label: rows for groups in groupings for label, rows in groups.items()}
for head in heads:
    averages = loaders.group_averages(run, head, method, faces, every_group)
    by_label = {average.label: average for average in averages}
    st.markdown(f"**{HEAD_TITLES[head]}**")
    for groups in groupings:
        shown = [by_label[label] for label in groups]
        st.image(
            [overlay(average.mean_face, average.mean_map) for average in shown],
            caption=[f"{average.label} ({average.count} faces)" for average in shown],
            width=96,
        )
