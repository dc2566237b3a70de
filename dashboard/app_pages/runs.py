"""Runs page: every run in a table (the starter model last), several compared side by side, a run's model card, the
command that serves it over HTTP, export, resuming, deletion."""

import pandas as pd
import streamlit as st

from core import runs
from core.inference import export
from core.paths import starter_dir
from core.runs.model_card import model_card
from core.service.settings import serve_command
from dashboard import figures, loaders, tables, widgets

CONFIRM_KEY = "delete-confirm"
NOTICE_KEY = "delete-notice"
ALL_RUNS, OWN_RUNS = "all runs", "runs outside any study"


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

run_list = runs.available_runs()
damaged = runs.damaged_runs()
if not run_list and not damaged:
    st.info(
        "No runs yet. Train a model on the Train page (or with `python -m core train`) and it appears here.",
        icon=":material/info:",
    )
    st.page_link(widgets.TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
    st.stop()

study_names = sorted({run.config.study for run in run_list if run.config.study is not None})
if study_names:
    # A study's trials are runs too (pruned ones included): many of them, so they can be shown apart.
    shown_study = st.selectbox("Study", [ALL_RUNS, OWN_RUNS, *study_names], key="runs-study",
                               help="Runs of a tuning study (the Tune page) are its trials.")  # fmt: skip
    if shown_study == OWN_RUNS:
        run_list = [run for run in run_list if run.config.study is None]
    elif shown_study != ALL_RUNS:
        run_list = [run for run in run_list if run.config.study == shown_study]
    if not run_list:
        st.info("No run here: choose another study above.", icon=":material/filter_alt_off:")
        st.stop()

overview = tables.runs_table(run_list, damaged)
number_formats = {
    "test accuracy": st.column_config.NumberColumn(format="percent"),
    "test MAE (years)": st.column_config.NumberColumn(format="%.2f"),
}
st.dataframe(overview, hide_index=True, column_config=number_formats, key="runs-table")
if damaged:
    st.warning(
        f"{len(damaged)} damaged run(s), marked *damaged* above with what is wrong: no page uses them until the file is "
        "mended (or the run deleted below).",
        icon=":material/broken_image:",
    )

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
    st.dataframe(overview[overview["run"].isin(chosen)].drop(columns="problem"), hide_index=True, column_config=number_formats)
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

st.header("Model card")
carded = [run_id for run_id, run in by_id.items() if run.metrics is not None]
if not carded:
    st.caption("A run gets its model card once it has finished.")
else:
    card_run = by_id[st.selectbox("Run", carded, format_func=lambda run_id: widgets.describe_run(by_id[run_id]), key="card-run")]
    card = model_card(card_run)
    with st.container(border=True, height=480):
        st.markdown(card)
    st.download_button("Download the model card", card, file_name=f"{card_run.run_id}-{runs.MODEL_CARD_FILE}", mime="text/markdown",
                       icon=":material/download:", key="card-download")  # fmt: skip

st.header("Serve over HTTP")
servable = [run_id for run_id, run in by_id.items() if run.is_usable]
if not servable:
    st.caption("A finished run can answer other programs over HTTP (`python -m core serve`).")
else:
    serve_run_id = st.selectbox(
        "Run to serve", servable, format_func=lambda run_id: widgets.describe_run(by_id[run_id]), key="serve-run"
    )
    st.code(serve_command([by_id[serve_run_id].run_dir]), language="bash")
    st.caption(
        "Type this in the project's folder: other programs then get every face's box, age with its interval, gender and "
        "warnings from `POST /v1/faces` at http://127.0.0.1:8000 (its description at /docs). Name a gender run and an age "
        "run to serve them together. API keys, limits and examples: docs/serving.md."
    )

st.header("Export")
exportable = [run_id for run_id, run in by_id.items() if run.has_model and run.metrics is not None]
if not exportable:
    st.caption("A finished run's model can be exported as ONNX, LiteRT or a TensorFlow SavedModel.")
else:
    export_column, format_column, button_column = st.columns([3, 1, 1], vertical_alignment="bottom")
    export_run_id = export_column.selectbox("Run to export", exportable, format_func=lambda run_id: widgets.describe_run(by_id[run_id]),
                                            key="export-run")  # fmt: skip
    export_format = format_column.selectbox("Format", list(export.FORMATS), key="export-format")
    if button_column.button("Export and check", icon=":material/output:", key="export-start"):
        with st.spinner(f"Exporting as {export_format} and comparing it with Keras on {export.PARITY_FACES} test faces…"):
            try:
                done = export.export_run(by_id[export_run_id].run_dir, export_format)
            except ValueError as error:  # A run without its data, or a failed parity check: the message says which.
                st.error(str(error), icon=":material/error:")
            else:
                differences = ", ".join(f"{head} {value:.1e}" for head, value in done.max_difference.items())
                st.success(f"Exported; largest difference from Keras on {done.faces} test faces: {differences}.")
    for fmt in export.FORMATS:
        found = loaders.export_download(by_id[export_run_id].run_dir, fmt)
        if found is not None:
            st.download_button(f"Download the {fmt} export", found[0], file_name=found[1], icon=":material/download:",
                               key=f"export-download-{fmt}")  # fmt: skip

resumable = [run_id for run_id, run in by_id.items() if run.can_resume]
if resumable:
    st.header("Resume a run")
    to_resume = st.selectbox("Stopped or interrupted run", resumable, format_func=lambda run_id: widgets.describe_run(by_id[run_id]),
                             key="resume-run")  # fmt: skip
    if st.button("Resume training", icon=":material/resume:", key="resume-run-button", disabled=runs.active_run() is not None):
        if widgets.resume_and_watch(by_id[to_resume]):
            st.switch_page(widgets.TRAIN_PAGE)

st.header("Delete a run")
# The starter model ships with the studio and is never offered for deletion; damaged runs are.
deletable = {run_id: run.run_dir for run_id, run in by_id.items() if not run.is_starter}
deletable |= {
    error.path.parent.name: error.path.parent for error in damaged if error.path.parent.resolve() != starter_dir().resolve()
}
victim = st.selectbox("Run to delete", list(deletable), index=None, placeholder="choose a run", key="delete-run")
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
            args=(victim, str(deletable[victim])),
        )
        if no_column.button("Cancel", key="delete-cancel"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()
