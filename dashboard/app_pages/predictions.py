"""Predictions page: a run's test faces as a paged grid of true vs predicted age and gender."""

import dataclasses

import streamlit as st

from dashboard import tables, widgets
from dashboard.selection import page_bounds, page_count, sort_orders_for, sort_predictions

PER_PAGE = 48


@st.dialog("Face details", width="large")
def face_details(image, row) -> None:
    image_column, table_column = st.columns([2, 3])
    image_column.image(image[:, :, 0], width="stretch", caption=row["img_name"])
    details = tables.face_details_table(row)
    # Tall enough for every field without a scroll bar: 35 px a row plus the header.
    table_column.dataframe(details, hide_index=True, height=35 * (len(details) + 1) + 3)
    if table_column.button("Explain this face", icon=":material/visibility:", key="predictions-explain"):
        widgets.choose_faces([int(row["row_id"])])
        st.switch_page(widgets.EXPLAIN_PAGE)


st.title("Predictions")
st.caption("The test split of a run: faces the model never saw in training, with what it predicted.")
run, frame = widgets.pick_run_with_predictions("test-set prediction")
has_age, has_gender = "pred_age" in frame, "pred_gender" in frame

slice_filter = widgets.slice_controls("predictions", max_age=int(frame["age"].max()))
outcome_column, error_column, sort_column = st.columns(3)
outcome = outcome_column.segmented_control(
    "Gender prediction",
    ["all", "correct", "wrong"],
    default="all",
    disabled=not has_gender,
    key="predictions-outcome",
    help=None if has_gender else "This run has no gender head.",
)
min_error = error_column.number_input(
    "Age error above (years, 0 = any)",
    min_value=0.0,
    max_value=120.0,
    value=0.0,
    step=1.0,
    disabled=not has_age,
    key="predictions-min-error",
    help=None if has_age else "This run has no age head.",
)
order = sort_column.selectbox("Sort", sort_orders_for(frame), key="predictions-sort")

face_filter = dataclasses.replace(
    slice_filter,
    outcome=(outcome or "all") if has_gender else "all",
    min_abs_error=min_error if has_age and min_error > 0 else None,
)
shown = sort_predictions(face_filter.apply(frame), order)
if shown.empty:
    st.warning("No test face matches these filters.", icon=":material/filter_alt_off:")
    st.stop()

pages = page_count(len(shown), PER_PAGE)
page_column, caption_column = st.columns([1, 5], vertical_alignment="bottom")
# Keyed by the filters, so a new filter starts again at page 1.
page = page_column.number_input(
    f"Page (of {pages})", min_value=1, max_value=pages, value=1, key=f"predictions-page-{run.run_id}-{face_filter}-{order}"
)
start, stop = page_bounds(len(shown), page, PER_PAGE)
on_page = shown.iloc[start:stop]
caption_column.caption(
    f"Faces {start + 1}–{stop} of {len(shown):,} matching ({len(frame):,} test faces in all). "
    "Captions: true → predicted age · true→predicted gender, P(female), ✓/✗."
)

faces = widgets.run_faces_or_explain(run)
if faces is None:
    st.dataframe(tables.display_columns(on_page), hide_index=True)
    st.stop()
row_ids = on_page["row_id"].to_numpy()
pressed = widgets.face_grid(
    faces.images[row_ids],
    [tables.prediction_caption(row) for row in on_page.itertuples()],
    [f"face-{row_id}" for row_id in row_ids],
)
if pressed is not None:
    face_details(faces.images[row_ids[pressed]], on_page.iloc[pressed])
