"""Tune page: start and stop a hyperparameter search (`python -m core tune`), watch its trials live, use the best ones."""

import os
from pathlib import Path

import streamlit as st

from core import runs
from core.networks.presets import DEFAULT_PRESET, all_presets
from core.tuning.objectives import DEFAULT_OBJECTIVE, OBJECTIVES
from core.tuning.space import KNOBS
from core.tuning.study import load_study, stored_studies, summary
from dashboard import loaders, tables, tuning, widgets

REFRESH_SECONDS = 2
STUDY_KEY = "tune-study"
PLOT_TITLES = {
    "history": "Optimization history",
    "parallel": "Parallel coordinates",
    "importances": "Setting importances",
    "pareto": "Pareto front",
}

st.title("Tune")
st.caption(
    "A study trains many short runs (trials) of a preset with other settings, chosen by Optuna's TPE sampler; the "
    "unpromising ones are pruned after an epoch or two. Trials are scored on their validation split; the test split is "
    "read only when you promote a trial. See docs/tuning.md for the command line and for several machines."
)
csv_path = widgets.chosen_csv()
studies = stored_studies()
presets = all_presets()

with st.expander("Start a study", expanded=not studies, icon=":material/play_arrow:"), st.form("tune-settings"):
    st.caption(f"Trials train on `{csv_path}` (choose another file on the Data page).")
    name_column, preset_column = st.columns(2)
    name = name_column.text_input("Study name", value="study-1", key="tune-name",
                                  help="The same name again goes on with a stored study (with the same settings).")  # fmt: skip
    preset = preset_column.selectbox("Base preset", list(presets), index=list(presets).index(DEFAULT_PRESET), key="tune-preset",
                                     help="The preset whose settings are searched; the others keep its values.")  # fmt: skip
    trials_column, epochs_column, limit_column, workers_column = st.columns(4)
    trials = trials_column.number_input("Trials", min_value=1, max_value=1000, value=16, key="tune-trials",
                                        help="Finished (complete or pruned) trials to reach.")  # fmt: skip
    epochs = epochs_column.number_input("Epochs per trial", min_value=1, max_value=100, value=6, key="tune-epochs")
    limit = limit_column.number_input("Row limit (0 = all rows)", min_value=0, value=8000, step=500, key="tune-limit",
                                      help="A seeded random sample of this many rows: the same for every trial.")  # fmt: skip
    workers = workers_column.number_input("Workers", min_value=1, max_value=os.cpu_count() or 1, value=1, key="tune-workers",
                                          help="Processes on this machine, each training one trial at a time.")  # fmt: skip
    objectives = st.multiselect(
        "Objective (one, or two for a Pareto front)",
        list(OBJECTIVES),
        default=[DEFAULT_OBJECTIVE],
        max_selections=2,
        key="tune-objectives",
        help="\n\n".join(f"**{objective.name}** ({objective.direction}): {objective.help}" for objective in OBJECTIVES.values()),
    )
    searched = st.multiselect(
        "Settings to search",
        [knob.name for knob in KNOBS],
        default=[knob.name for knob in KNOBS],
        key="tune-knobs",
        help="\n\n".join(f"**{knob.name}**: {knob.help}, {knob.describe()}" for knob in KNOBS)
        + "\n\nThose left out keep the preset's value, as do those that would not change it (the seed preset has no "
        "shared trunk to shape, say).",
    )
    start = st.form_submit_button("Start the study", type="primary", icon=":material/play_arrow:")

if start:
    try:
        tuning.start_study(
            tuning.StudyRequest(
                study=name.strip(),
                preset=preset,
                trials=int(trials),
                epochs_per_trial=int(epochs),
                limit=int(limit) or None,
                csv_path=str(csv_path.resolve()),
                objectives=tuple(objectives),
                workers=int(workers),
                searched=None if len(searched) == len(KNOBS) else tuple(searched),
            )
        )
    except ValueError as error:  # Bad settings, another search under that name, or a training already running.
        st.error(str(error), icon=":material/error:")
    else:
        st.session_state[STUDY_KEY] = name.strip()
        st.rerun()  # Redraw with the new study chosen below.

if not studies:
    st.info("No study yet: start one above, or with `python -m core tune` (docs/tuning.md).", icon=":material/info:")
    st.stop()

st.header("Studies")
if st.session_state.get(STUDY_KEY) not in studies:
    st.session_state[STUDY_KEY] = studies[0]
study_name = st.selectbox("Study", studies, key=STUDY_KEY, help="Studies stored in the runs folder, newest first.")


def objective_names(study) -> list[str]:
    """The study's objectives by name, as its search stored them (core.tuning.study)."""
    stored = study.user_attrs.get("search", {}).get("objectives")
    return stored or [f"objective {number + 1}" for number in range(len(study.directions))]


def show_study(name: str) -> None:
    """The study's progress, trials and plots."""
    try:
        study = load_study(name)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
        return
    names = objective_names(study)
    counts = summary(study)
    finished = counts["COMPLETE"] + counts["PRUNED"]
    asked = tuning.launch_record(name).get("trials")
    progress = f"{finished}{f' of {asked}' if asked else ''} trials finished · {counts['COMPLETE']} complete · "
    st.caption(progress + f"{counts['PRUNED']} pruned · {counts['FAIL']} failed · {counts['RUNNING']} running · "
               f"objectives: {', '.join(f'{n} ({d.name.lower()})' for n, d in zip(names, study.directions, strict=True))}")  # fmt: skip
    table = tables.trials_table(study, names)
    if table.empty:
        st.info("No trial yet: the first starts once its worker has loaded the data.", icon=":material/hourglass_top:")
        return
    st.dataframe(table, hide_index=True, key="tune-trials-table")
    plots = loaders.study_figures(study, names)
    if len(plots) == 1:  # No complete trial yet: one line says so.
        show_plot(plots, "history")
        return
    left, right = st.columns(2)
    with left:
        show_plot(plots, "history")
    with right:
        show_plot(plots, "pareto" if "pareto" in plots else "importances")
    show_plot(plots, "parallel")  # The whole width: one axis per searched setting.
    if "pareto" in plots:
        with st.columns(2)[0]:
            show_plot(plots, "importances")


def show_plot(plots: dict, key: str) -> None:
    """One of the study's plots under its title, or why it is not there yet."""
    st.markdown(f"**{PLOT_TITLES[key]}**")
    if isinstance(plots[key], str):
        st.caption(plots[key])
    else:
        st.plotly_chart(plots[key], key=f"tune-plot-{key}")


@st.fragment(run_every=REFRESH_SECONDS)
def live_study(name: str) -> None:
    """The study while its process runs: redrawn every few seconds, the whole page once it ends."""
    if not tuning.is_running(name):
        st.rerun()
    stopping = tuning.stop_requested(name)
    if not stopping and st.button("Stop the study", icon=":material/stop_circle:", key="tune-stop"):
        try:
            tuning.stop_study(name)
        except ValueError as error:
            st.error(str(error), icon=":material/error:")
        stopping = True
    if stopping:
        st.caption("Stopping: running trials end after their batch (they count as failed), and no new one starts.")
    show_study(name)


running = tuning.is_running(study_name)
if running:
    live_study(study_name)
else:
    show_study(study_name)
log = tuning.log_tail(study_name)
if log:
    with st.expander("End of the study's log"):
        st.code(log, language=None)
if running:
    # Its trials' runs would compete with a training for the same cores, and the list of trials is still moving.
    st.caption("Once the study has ended (or is stopped) you can train with a trial's settings or promote it here.")
    st.stop()

st.header("Use a trial")
try:
    complete = [trial for trial in load_study(study_name).get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]
except ValueError:
    complete = []  # Said above.
complete = [trial for trial in complete if trial.user_attrs.get("run_dir")]
if not complete:
    st.caption("Once a trial has completed you can train with its settings, or score its run on the test split.")
    st.stop()
by_number = {trial.number: trial for trial in complete}
number = st.selectbox(
    "Complete trial",
    list(by_number),
    format_func=lambda n: f"trial {n} · " + ", ".join(f"{value:.4g}" for value in by_number[n].values),
    key="tune-trial",
)
run_dir = by_number[number].user_attrs["run_dir"]
train_column, promote_column = st.columns(2, border=True)
with train_column:
    preset_name = st.text_input("Save its settings as the preset", value=f"{study_name}-t{number}", key=f"tune-preset-name-{number}",
                                help="A preset of yours (runs/presets/NAME.json) that the Train page and `--preset` offer; "
                                "its epochs are the base preset's, not the trial's.")  # fmt: skip
    if st.button("Train with these settings", type="primary", icon=":material/model_training:", key="tune-train"):
        try:
            saved = tuning.save_trial_preset(run_dir, preset_name.strip())
        except ValueError as error:  # A studio preset's name, or not a valid name; a trial's run that is gone.
            st.error(str(error), icon=":material/error:")
        else:
            widgets.hand_preset_to_train_page(saved.name)
            st.switch_page(widgets.TRAIN_PAGE)
with promote_column:
    run = runs.load_run(run_dir) if (Path(run_dir) / runs.CONFIG_FILE).is_file() else None
    if run is not None and run.metrics is not None:
        test = run.metrics.test
        st.success(f"Scored on its test split: accuracy {widgets.percent(test.accuracy)}, MAE {widgets.years(test.mae)}.")
        st.page_link(widgets.ERRORS_PAGE, label="See where it goes wrong on the Errors page", icon=":material/troubleshoot:")
    else:
        st.caption("Promote: score the trial's model on its test split (with its int8 copy and calibration), which makes "
                   "its run one the result pages show. Takes up to a minute.")  # fmt: skip
        if st.button("Promote", icon=":material/verified:", key="tune-promote", disabled=run is None):
            with st.spinner(f"Scoring trial {number} on its test split…"):
                try:
                    tuning.promote_trial(study_name, number)
                except ValueError as error:
                    st.error(str(error), icon=":material/error:")
                else:
                    st.rerun()
