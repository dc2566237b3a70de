"""Errors page: where a run's test-set predictions go wrong, sliced by age, gender and ethnicity."""

import pandas as pd
import streamlit as st

from core import runs
from core.evaluation.calibration import LEVELS, coverage_table, expected_calibration_error
from core.evaluation.metrics import summarize
from dashboard import figures, tables, widgets
from dashboard.selection import selected_row_ids

MAX_SELECTED_FACES = 48

st.title("Errors")
st.caption("Every view below covers the test faces that match the selectors; numbers come from `core.evaluation.metrics`.")
run, frame = widgets.pick_run_with_predictions("error analysis")
has_age, has_gender = "pred_age" in frame, "pred_gender" in frame

face_filter = widgets.slice_controls("errors", max_age=int(frame["age"].max()))
sliced = face_filter.apply(frame)
if sliced.empty:
    st.warning("No test face matches these selectors.", icon=":material/filter_alt_off:")
    st.stop()
summary = summarize(sliced)
whole = summarize(frame) if len(sliced) < len(frame) else summary

count_column, mae_column, accuracy_column = st.columns(3)
count_column.metric("Test faces", f"{summary.n:,}", help=f"of {len(frame):,} in the test split")
if has_age:
    change = None if whole is summary else f"{summary.mae - whole.mae:+.2f} vs all"
    mae_column.metric("MAE", widgets.years(summary.mae), delta=change, delta_color="inverse")
if has_gender:
    change = None if whole is summary else f"{(summary.accuracy - whole.accuracy) * 100:+.1f} pts vs all"
    accuracy_column.metric("Gender accuracy", widgets.percent(summary.accuracy), delta=change)

buckets = tables.breakdown_table(summary.by_age_bucket)
scatter_column, side_column = st.columns([3, 2])
with scatter_column:
    scatter = figures.prediction_scatter(sliced) if has_age else figures.probability_scatter(sliced)
    event = st.plotly_chart(scatter, on_select="rerun", selection_mode=("points", "box", "lasso"), key="errors-scatter")
with side_column:
    if has_age:
        st.plotly_chart(figures.residual_histogram(sliced), key="errors-residuals")
    else:
        st.plotly_chart(
            figures.breakdown_bars(buckets, "age_bucket", "accuracy", "Gender accuracy by age bucket"),
            key="errors-bucket-accuracy",
        )

st.subheader("Selected faces")
selected = selected_row_ids(event.selection)
if not selected:
    st.caption("Drag a box or lasso over points of the scatter plot above to see those faces here.")
else:
    picked = sliced[sliced["row_id"].isin(selected)]
    st.caption(
        f"{len(picked):,} faces selected"
        + (f"; the first {MAX_SELECTED_FACES} are shown." if len(picked) > MAX_SELECTED_FACES else ".")
    )
    faces = widgets.run_faces_or_explain(run)
    first = picked.head(MAX_SELECTED_FACES)
    if faces is not None:
        widgets.face_strip(
            faces.images[first["row_id"].to_numpy()], [tables.prediction_caption(row) for row in first.itertuples()]
        )
    st.dataframe(tables.display_columns(first), hide_index=True)
    if st.button("Explain these faces", icon=":material/visibility:", key="errors-explain"):
        widgets.choose_faces(first["row_id"].tolist())
        st.switch_page(widgets.EXPLAIN_PAGE)

if has_age:
    st.subheader("Age error by age bucket")
    left, right = st.columns(2)
    left.plotly_chart(figures.breakdown_bars(buckets, "age_bucket", "mae", "MAE by age bucket"), key="errors-bucket-mae")
    if has_gender:
        right.plotly_chart(
            figures.breakdown_bars(buckets, "age_bucket", "accuracy", "Gender accuracy by age bucket"),
            key="errors-bucket-accuracy",
        )

st.subheader("By gender and ethnicity")
groups = tables.gender_ethnicity_table(summary)
shown_values = [(value, name) for value, name in (("mae", "MAE"), ("accuracy", "Gender accuracy")) if value in groups]
for column, (value, name) in zip(st.columns(2), shown_values, strict=False):
    column.plotly_chart(
        figures.breakdown_bars(groups, "ethnicity", value, f"{name} by ethnicity and gender", color="gender"),
        key=f"errors-groups-{value}",
    )

if has_gender:
    st.subheader("Gender: confusion and calibration")
    left, right = st.columns(2)
    left.plotly_chart(figures.confusion_heatmap(summary.confusion_matrix), key="errors-confusion")
    raw_table, title = None, "Gender probability calibration"
    if "pred_gender_prob_raw" in sliced:
        is_female = sliced["gender"].to_numpy() == 1
        before, after = (
            expected_calibration_error(sliced[column].to_numpy(), is_female)
            for column in ("pred_gender_prob_raw", "pred_gender_prob")
        )
        raw_table, title = (
            tables.calibration_table(sliced, column="pred_gender_prob_raw"),
            f"Calibration: ECE {before:.3f} before, {after:.3f} after",
        )
    right.plotly_chart(figures.calibration_plot(tables.calibration_table(sliced), raw_table, title), key="errors-calibration")

if "age_low" in sliced:
    st.subheader("Age intervals: how often they hold")
    calibration = runs.read_calibration(run.run_dir)
    coverage = pd.DataFrame(coverage_table(sliced, calibration, levels=LEVELS))
    st.plotly_chart(figures.coverage_bars(coverage), key="errors-coverage")
    st.caption(
        "Each interval was fitted on the run's validation faces; on these test faces the share of true ages inside "
        "should match its level in every age bucket. Widths are in years."
    )

with st.expander("The numbers behind the charts"):
    for title, table in (("By age bucket", buckets), ("By ethnicity and gender ('all' for either margin)", groups)):
        st.markdown(f"**{title}**")
        st.dataframe(table, hide_index=True)
