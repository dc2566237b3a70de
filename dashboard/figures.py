"""Plotly figures of the dashboard, built from plain arrays and frames (no Streamlit).

    st.plotly_chart(age_histogram(faces.age, faces.gender))
    st.plotly_chart(training_curves(read_history(run_dir)))
    st.plotly_chart(prediction_scatter(frame), on_select="rerun", selection_mode=("points", "box", "lasso"))

Figures with many faces are drawn from counts or quantiles, not one mark per
face, so a 21k-row data set stays a small message to the browser.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.labels import AGE_BUCKET_LABELS, ETHNICITIES, GENDERS
from core.runs import HistoryRecord

GENDER_COLORS = {"male": "#2f6db5", "female": "#d2527f", "all": "#9aa5b1"}
TRAIN_COLOR, VALIDATION_COLOR = "#2f6db5", "#e07b39"
# Titles of the curves in history.jsonl, by metric key without the `val_` prefix.
CURVE_TITLES = {"loss": "Loss", "gender_accuracy": "Gender accuracy", "age_mae": "Age MAE (years)"}


def _layout(figure: go.Figure, title: str, height: int = 320) -> go.Figure:
    figure.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend_title_text="")
    return figure


def age_histogram(age: np.ndarray, gender: np.ndarray) -> go.Figure:
    """Faces per year of age, stacked by gender."""
    top = int(np.max(age)) + 1 if len(age) else 1
    figure = go.Figure()
    for code, name in GENDERS.items():
        counts = np.bincount(age[gender == code].astype(int), minlength=top)
        figure.add_bar(x=np.arange(top), y=counts, name=name, marker_color=GENDER_COLORS[name])
    figure.update_layout(barmode="stack", bargap=0, xaxis_title="age (years)", yaxis_title="faces")
    return _layout(figure, "Age")


def balance_bar(values: np.ndarray, names: dict[int, str], title: str) -> go.Figure:
    """How many faces carry each label code (every code shown, even at zero)."""
    counts = np.bincount(np.asarray(values, dtype=int), minlength=len(names))[: len(names)]
    labels = [names[code] for code in range(len(names))]
    colors = [GENDER_COLORS.get(label, "#5b7aa6") for label in labels]
    share = counts / max(1, counts.sum())
    figure = go.Figure(go.Bar(x=labels, y=counts, marker_color=colors, text=[f"{s:.0%}" for s in share], textposition="outside"))
    figure.update_layout(yaxis_title="faces")
    return _layout(figure, title)


def age_by_gender_box(age: np.ndarray, gender: np.ndarray) -> go.Figure:
    """Age quartiles per gender, drawn from precomputed statistics (Tukey whiskers)."""
    figure = go.Figure()
    for code, name in GENDERS.items():
        ages = age[gender == code]
        if not len(ages):
            continue
        q1, median, q3 = np.percentile(ages, [25, 50, 75])
        reach = 1.5 * (q3 - q1)
        low, high = ages[ages >= q1 - reach].min(), ages[ages <= q3 + reach].max()
        figure.add_trace(
            go.Box(
                x=[name],
                name=name,
                q1=[q1],
                median=[median],
                q3=[q3],
                lowerfence=[low],
                upperfence=[high],
                mean=[ages.mean()],
                marker_color=GENDER_COLORS[name],
            )
        )
    figure.update_layout(yaxis_title="age (years)", showlegend=False)
    return _layout(figure, "Age by gender")


def _curve_x(records: list[HistoryRecord]) -> list[float]:
    """Epochs as a continuous axis: batch 120 of 480 in epoch 3 sits at 2.25."""
    return [record.epoch - 1 + record.batches_done / max(1, record.steps) for record in records]


def curve_metrics(history: list[HistoryRecord]) -> list[str]:
    """Metric keys (without `val_`) found in a history, loss first."""
    keys = {key.removeprefix("val_") for record in history for key in record.metrics}
    return [key for key in CURVE_TITLES if key in keys]


def complete_epochs(history: list[HistoryRecord]) -> list[HistoryRecord]:
    """Epoch records, less one cut short by Stop (its training metrics cover a few batches only)."""
    return [record for record in history if record.is_complete_epoch]


def training_curves(history: list[HistoryRecord]) -> go.Figure:
    """Training and validation loss and metrics, one panel each, from history.jsonl records."""
    metrics = curve_metrics(history) or ["loss"]
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=[CURVE_TITLES[key] for key in metrics])
    batches = [record for record in history if record.kind == "batch"]
    epochs = complete_epochs(history)
    epoch_numbers = [record.epoch for record in epochs]
    for column, key in enumerate(metrics, start=1):
        # (x, y, legend name, line style, opacity, mode) of each curve in this panel.
        batch_line, val_line = {"color": TRAIN_COLOR, "width": 1}, {"color": VALIDATION_COLOR}
        curves = (
            (_curve_x(batches), [r.metrics.get(key) for r in batches], "train (running, per batch)", batch_line, 0.45, "lines"),
            (epoch_numbers, [r.metrics.get(key) for r in epochs], "train (epoch)", {"color": TRAIN_COLOR}, 1.0, "lines+markers"),
            (epoch_numbers, [r.metrics.get(f"val_{key}") for r in epochs], "validation", val_line, 1.0, "lines+markers"),
        )  # fmt: skip
        for x, y, name, line, opacity, mode in curves:
            figure.add_scatter(
                x=x,
                y=y,
                name=name,
                line=line,
                opacity=opacity,
                mode=mode,
                legendgroup=name,
                showlegend=column == 1,
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text="epoch", rangemode="tozero", row=1, col=column)
    figure.update_layout(legend={"orientation": "h", "y": -0.25})
    return _layout(figure, "", height=360)


def compare_curves(histories: dict[str, list[HistoryRecord]], metric: str) -> go.Figure:
    """One metric per epoch for several runs: validation solid, training dotted."""
    figure = go.Figure()
    colors = px.colors.qualitative.Plotly
    for index, (name, history) in enumerate(histories.items()):
        epochs = complete_epochs(history)
        color = colors[index % len(colors)]
        x = [record.epoch for record in epochs]
        figure.add_scatter(
            x=x,
            y=[record.metrics.get(f"val_{metric}") for record in epochs],
            mode="lines+markers",
            name=f"{name} (validation)",
            line={"color": color},
        )
        figure.add_scatter(
            x=x,
            y=[record.metrics.get(metric) for record in epochs],
            mode="lines",
            name=f"{name} (train)",
            line={"color": color, "dash": "dot"},
        )
    figure.update_layout(
        xaxis_title="epoch", yaxis_title=CURVE_TITLES.get(metric, metric), legend={"orientation": "h", "y": -0.3}
    )
    return _layout(figure, CURVE_TITLES.get(metric, metric), height=420)


def _scatter_by_gender(frame: pd.DataFrame, y: str, hover: str) -> go.Figure:
    """One marker trace per gender (true age on x); each point carries [row id, ethnicity] as custom data.

    Built with graph objects rather than Plotly Express: five times faster on
    a few thousand faces, which counts on a page that must redraw in 2 s.
    """
    figure = go.Figure()
    for name in GENDERS.values():
        part = frame[frame["gender_name"] == name]
        figure.add_scatter(
            x=part["age"],
            y=part[y],
            mode="markers",
            name=name,
            marker={"color": GENDER_COLORS[name], "opacity": 0.55, "size": 6},
            customdata=part[["row_id", "ethnicity_name"]].to_numpy(object),
            hovertemplate=f"true age %{{x}}<br>{hover}<br>row %{{customdata[0]}} · %{{customdata[1]}}<extra>{name}</extra>",
        )
    figure.update_layout(dragmode="lasso", xaxis_title="true age (years)")
    return figure


def prediction_scatter(frame: pd.DataFrame) -> go.Figure:
    """Predicted against true age, coloured by gender, with the identity line; points carry their row id."""
    figure = _scatter_by_gender(frame, "pred_age", "predicted %{y:.1f}")
    top = float(max(frame["age"].max(), frame["pred_age"].max())) if len(frame) else 1.0
    figure.add_scatter(
        x=[0, top], y=[0, top], mode="lines", name="perfect", line={"color": "#777", "dash": "dash"}, hoverinfo="skip"
    )
    figure.update_layout(yaxis_title="predicted age (years)")
    return _layout(figure, "Predicted vs true age", height=460)


def probability_scatter(frame: pd.DataFrame) -> go.Figure:
    """P(female) against true age, coloured by true gender; for runs without an age head."""
    figure = _scatter_by_gender(frame, "pred_gender_prob", "P(female) %{y:.2f}")
    figure.add_hline(y=0.5, line_dash="dash", line_color="#777")
    figure.update_layout(yaxis_title="predicted P(female)", legend_title_text="true gender")
    return _layout(figure, "Predicted P(female) by true age", height=460)


def residual_histogram(frame: pd.DataFrame, bins: int = 60) -> go.Figure:
    """Predicted minus true age; left of zero the model guesses too young. Binned here, not in the browser."""
    counts, edges = np.histogram(frame["age_error"].to_numpy(float), bins=bins)
    figure = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), marker_color="#5b7aa6"))
    figure.add_vline(x=0, line_dash="dash", line_color="#333")
    figure.update_layout(xaxis_title="predicted − true age (years)", yaxis_title="faces", bargap=0)
    return _layout(figure, "Residuals", height=460)


def breakdown_bars(table: pd.DataFrame, by: str, value: str, title: str, color: str | None = None) -> go.Figure:
    """A bar per group of a breakdown table (MAE or accuracy), with the face count on hover.

    `color` splits each group into side-by-side bars (e.g. by gender); when it
    names the same column as `by`, it only colours the bars.
    """
    labels = {"mae": "MAE (years)", "accuracy": "accuracy", "age_bucket": "age bucket", "n": "faces"}
    order = {
        "age_bucket": list(AGE_BUCKET_LABELS),
        "gender": [*GENDERS.values(), "all"],
        "ethnicity": [*ETHNICITIES.values(), "all"],
    }
    grouped = color is not None and color != by
    figure = px.bar(
        table,
        x=by,
        y=value,
        color=color,
        # One bar per category when colour and axis agree; "group" would leave gaps for the other colours.
        barmode="group" if grouped else "relative",
        hover_data=["n"],
        labels=labels,
        # Values printed on the bars only where the bars are wide enough to hold them.
        text_auto=False if grouped else (".2f" if value == "mae" else ".0%"),
        category_orders={key: values for key, values in order.items() if key in (by, color)},
        color_discrete_map=GENDER_COLORS if color == "gender" else None,
    )
    figure.update_layout(showlegend=grouped)
    if value == "accuracy":
        figure.update_yaxes(range=[0, 1], tickformat=".0%")
    return _layout(figure, title)


def confusion_heatmap(matrix: list[list[int]]) -> go.Figure:
    """2x2 counts: rows the true gender, columns the predicted one."""
    names = list(GENDERS.values())
    figure = px.imshow(
        np.asarray(matrix),
        x=names,
        y=names,
        text_auto=True,
        color_continuous_scale="Blues",
        labels={"x": "predicted gender", "y": "true gender", "color": "faces"},
    )
    figure.update_layout(coloraxis_showscale=False)
    return _layout(figure, "Gender confusion matrix", height=360)


def calibration_plot(
    table: pd.DataFrame, raw_table: pd.DataFrame | None = None, title: str = "Gender probability calibration"
) -> go.Figure:
    """Observed share of women against predicted P(female) per bin; the diagonal is perfect.

    `raw_table`, the same for the network's own probabilities, is drawn beside
    the calibrated ones (`table`) when the run was calibrated.
    """
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"color": "#777", "dash": "dash"}, hoverinfo="skip")
    curves = [(table, "calibrated" if raw_table is not None else "model", GENDER_COLORS["female"])]
    if raw_table is not None:
        curves.insert(0, (raw_table, "before calibration", GENDER_COLORS["all"]))
    for curve, name, color in curves:
        figure.add_scatter(
            x=curve["mean_predicted"],
            y=curve["observed_female"],
            mode="lines+markers",
            name=name,
            customdata=curve[["n"]],
            marker={"size": np.clip(np.sqrt(curve["n"].to_numpy(float)) * 1.5, 6, 22), "color": color},
            line={"color": color},
            hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata[0]} faces<extra></extra>",
        )
    figure.update_layout(
        xaxis_title="predicted P(female)", yaxis_title="observed share female", xaxis_range=[0, 1], yaxis_range=[0, 1]
    )
    return _layout(figure, title, height=360)


def coverage_bars(table: pd.DataFrame) -> go.Figure:
    """Observed coverage of the age intervals per age bucket and level, with each level's target as a line."""
    figure = go.Figure()
    colors = px.colors.sequential.Blues[3:]
    for index, (level, rows) in enumerate(table.groupby("level", sort=True)):
        color = colors[index % len(colors)]
        figure.add_bar(
            x=rows["age_bucket"],
            y=rows["coverage"],
            name=f"{level:.0%} intervals",
            marker_color=color,
            customdata=rows[["n", "mean_width"]],
            hovertemplate="%{x}: %{y:.1%} inside<br>%{customdata[0]} faces, mean width %{customdata[1]:.1f} years<extra></extra>",
        )
        figure.add_hline(y=level, line_dash="dash", line_color=color)
    figure.update_layout(
        barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1], xaxis_title="true age", yaxis_title="true ages inside"
    )
    return _layout(figure, "Coverage of the age intervals", height=380)


def study_figures(study, objective_names: list[str]) -> dict[str, go.Figure | str]:
    """Optuna's own plots of a study, by key: a figure, or why there is none yet.

    `history` and `parallel` (the first objective), `importances` (each
    setting's share of the first objective's variance; 2+ complete trials) and,
    for two objectives, `pareto` (the trade-off, best trials highlighted).
    """
    from optuna import visualization  # Imported here: only the Tune page needs it.

    complete = [trial for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]
    if not complete:
        return {"history": "The plots appear once a trial has completed."}
    # Optuna plots one objective at a time; with two, the first is plotted and the Pareto front shows both.
    first = {"target": (lambda trial: trial.values[0]) if len(objective_names) > 1 else None, "target_name": objective_names[0]}
    found = {
        "history": visualization.plot_optimization_history(study, **first),
        "parallel": visualization.plot_parallel_coordinate(study, **first),
        "importances": "The importance of each setting needs at least two complete trials.",
    }
    if len(complete) >= 2:
        # Given a target, Optuna rates the settings for getting it low (it knows the direction only without one).
        maximized = len(objective_names) > 1 and study.directions[0].name == "MAXIMIZE"
        ranked = {"target": lambda trial: -trial.values[0], "target_name": objective_names[0]} if maximized else first
        try:
            with warnings.catch_warnings():  # Its notes on tiny studies ("importances will be equal") are for a console.
                warnings.simplefilter("ignore", UserWarning)
                found["importances"] = visualization.plot_param_importances(study, **ranked)
        except (ValueError, RuntimeError) as error:  # Settings that did not vary, say.
            found["importances"] = f"No importances yet: {error}"
    if len(objective_names) == 2:
        found["pareto"] = visualization.plot_pareto_front(study, target_names=objective_names)
    for figure in found.values():
        if isinstance(figure, go.Figure):
            figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return found
