"""Data page: where the face CSV comes from, its load report, distributions and sample faces."""

import dataclasses

import pandas as pd
import streamlit as st

from core.config import default_csv_path
from core.data import ETHNICITIES, GENDERS, seeded_sample
from dashboard import figures, widgets

SAMPLE_SIZE = 48
FIRST_BAD_ROWS = 20

st.title("Data")
st.caption("The face CSV that training and the result pages use. Every row is checked; bad rows are left out and listed here.")

path_column, upload_column = st.columns(2)
with upload_column:
    # Handled before the path box is drawn, so the box already shows an upload's path.
    upload = st.file_uploader("…or upload a CSV / .csv.gz", type=["csv", "gz"])
    if upload is not None:
        widgets.store_upload(upload)
with path_column:
    with st.form("csv-path", border=False):
        typed = st.text_input("Face CSV file (plain or .gz)", value=str(widgets.chosen_csv()))
        if st.form_submit_button("Use this file"):
            widgets.choose_csv(typed.strip())
    default = default_csv_path()
    if st.button(f"Use the default: {default}", type="tertiary"):
        widgets.choose_csv(default)

path = widgets.chosen_csv()
loaded = widgets.load_data_or_explain(path, link_to_data_page=False)
if loaded is None:
    st.stop()
faces, report = loaded

st.header("Load report")
st.caption(f"`{path}` · checked in {report.seconds:.1f} s{' (from the parsed-file cache)' if report.from_cache else ''}")
read_column, kept_column, left_out_column = st.columns(3)
read_column.metric("Rows read", f"{report.rows_read:,}")
kept_column.metric("Rows kept", f"{report.rows_kept:,}")
left_out_column.metric("Rows left out", f"{report.rows_left_out:,}")
if report.bad_rows:
    reasons_column, rows_column = st.columns([1, 2])
    reasons_column.dataframe(pd.DataFrame(report.counts_by_reason().items(), columns=["problem", "rows"]), hide_index=True)
    rows_column.dataframe(pd.DataFrame([dataclasses.asdict(row) for row in report.bad_rows[:FIRST_BAD_ROWS]]), hide_index=True)
    if len(report.bad_rows) > FIRST_BAD_ROWS:
        rows_column.caption(f"The first {FIRST_BAD_ROWS} of {len(report.bad_rows):,} problems.")
else:
    st.success("Every row is valid.", icon=":material/check_circle:")

st.header("Distributions")
left, right = st.columns(2)
left.plotly_chart(figures.age_histogram(faces.age, faces.gender), key="age-histogram")
right.plotly_chart(figures.age_by_gender_box(faces.age, faces.gender), key="age-by-gender")
left.plotly_chart(figures.balance_bar(faces.gender, GENDERS, "Gender"), key="gender-balance")
right.plotly_chart(figures.balance_bar(faces.ethnicity, ETHNICITIES, "Ethnicity"), key="ethnicity-balance")

st.header("Sample faces")
face_filter = widgets.slice_controls("data-sample", max_age=int(faces.age.max()))
matching = face_filter.apply(faces.labels_frame()).index.to_numpy()
if st.button("Show other faces", icon=":material/shuffle:"):
    st.session_state["data-sample-seed"] = st.session_state.get("data-sample-seed", 0) + 1
shown = seeded_sample(matching, SAMPLE_SIZE, seed=st.session_state.get("data-sample-seed", 0))
st.caption(f"Showing {len(shown)} of {len(matching):,} matching faces.")
widgets.face_strip(
    faces.images[shown],
    [f"{faces.age[row]} · {GENDERS[faces.gender[row]]} · {ETHNICITIES[faces.ethnicity[row]]}" for row in shown],
)
