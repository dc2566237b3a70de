"""Runs page: every training run in a table, several compared side by side, deletion with confirmation."""

import pandas as pd
import streamlit as st

from core import runs
from dashboard import figures, tables, widgets

CONFIRM_KEY = "delete-confirm"
NOTICE_KEY = "delete-notice"


def delete_confirmed(run_id: str, run_dir: str) -> None:
    """Button callback: runs before the page redraws, so widgets still naming the run can be reset."""
    try:
        runs.delete_run(run_dir)
    except ValueError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
    else:
        st.session_state[NOTICE_KEY] = ("success", f"Deleted run `{run_id}`.")
        st.session_state["delete-run"] = None
        st.session_state["compare-runs"] = [other for other in st.session_state.get("compare-runs", []) if other != run_id]
    st.session_state.pop(CONFIRM_KEY, None)


st.title("Runs")
notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    (st.success if notice[0] == "success" else st.error)(notice[1])

run_list = runs.list_runs()
if not run_list:
    st.info(
        "No runs yet. Train a model on the Train page (or with `python -m core.train`) and it appears here.",
        icon=":material/info:",
    )
    st.page_link(widgets.TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
    st.stop()

overview = tables.runs_table(run_list)
number_formats = {
    "test accuracy": st.column_config.NumberColumn(format="percent"),
    "test MAE (years)": st.column_config.NumberColumn(format="%.2f"),
}
st.dataframe(overview, hide_index=True, column_config=number_formats, key="runs-table")

st.header("Compare")
by_id = {run.run_id: run for run in run_list}
chosen = st.multiselect("Runs to compare (two or more)", list(by_id), key="compare-runs")
if len(chosen) < 2:
    st.caption("Pick at least two runs to overlay their training curves and compare their test metrics.")
else:
    histories = {run_id: runs.read_history(by_id[run_id].run_dir) for run_id in chosen}
    available = [
        key for key in figures.CURVE_TITLES if any(key in figures.curve_metrics(history) for history in histories.values())
    ]
    metric = st.radio("Curve", available, format_func=figures.CURVE_TITLES.get, horizontal=True, key="compare-metric")
    st.plotly_chart(figures.compare_curves(histories, metric), key="compare-curves")
    st.dataframe(overview[overview["run"].isin(chosen)], hide_index=True, column_config=number_formats)
    bucket_tables = [
        tables.breakdown_table(by_id[run_id].metrics.test.by_age_bucket).assign(run=run_id)
        for run_id in chosen
        if by_id[run_id].metrics
    ]
    buckets = pd.concat(bucket_tables, ignore_index=True) if bucket_tables else pd.DataFrame()
    left, right = st.columns(2)
    if "mae" in buckets:
        left.plotly_chart(
            figures.breakdown_bars(buckets.dropna(subset=["mae"]), "age_bucket", "mae", "Test MAE by age bucket", color="run"),
            key="compare-mae",
        )
    if "accuracy" in buckets:
        right.plotly_chart(
            figures.breakdown_bars(
                buckets.dropna(subset=["accuracy"]), "age_bucket", "accuracy", "Test accuracy by age bucket", color="run"
            ),
            key="compare-accuracy",
        )

st.header("Delete a run")
victim = st.selectbox("Run to delete", list(by_id), index=None, placeholder="choose a run", key="delete-run")
if victim is not None:
    if st.session_state.get(CONFIRM_KEY) != victim:
        if st.button("Delete…", icon=":material/delete:", key="delete-ask"):
            st.session_state[CONFIRM_KEY] = victim
            st.rerun()
    else:
        st.warning(
            f"Delete run `{victim}` and all its files (model, metrics, predictions)? This cannot be undone.",
            icon=":material/warning:",
        )
        yes_column, no_column, _ = st.columns([1, 1, 4])
        yes_column.button(
            "Yes, delete it",
            type="primary",
            key="delete-yes",
            on_click=delete_confirmed,
            args=(victim, str(by_id[victim].run_dir)),
        )
        if no_column.button("Cancel", key="delete-cancel"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()
