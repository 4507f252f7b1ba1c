"""Figures of any configured model: comparison, conditional effects, predictive checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import COLUMN_WIDTH, FULL_WIDTH, NEUTRAL, PALETTE, interval_plot, new_figure, reference_line, styled

MAX_LINES = len(PALETTE)  # combinations of the other varied predictors drawn as lines
MAX_CHECK_ROWS = 40  # rows of a predictive-check figure before it shows the overall ones only


@styled
def comparison_figure(comparison: pd.DataFrame) -> Figure:
    """Each model's ELPD difference from the best (PSIS-LOO) with +-2 SE of the difference,
    best at the top; the stacking weight beside each name."""
    table = comparison.sort_values("rank")
    positions = np.arange(len(table))[::-1]
    fig, ax = new_figure(COLUMN_WIDTH, 0.5 + 0.35 * len(table))
    diff = -table["elpd_diff"].to_numpy()
    half = 2 * table["dse"].to_numpy()
    interval_plot(ax, diff, diff - half, diff + half, positions, color=PALETTE[0])
    reference_line(ax, 0.0)
    ax.set_yticks(positions, [f"{m}  (w = {w:.2f})" for m, w in zip(table["model"], table["weight"])])
    ax.set_xlabel("ELPD difference from the best\n(PSIS-LOO, ±2 SE of the difference)")
    return fig


@styled
def conditional_effects_figure(predictions: pd.DataFrame, varied: list[str], outcome_label: str) -> Figure:
    """One panel per varied predictor: the expected outcome (posterior mean, 95% interval) against
    it, one line per combination of the grid's other varied predictors (up to MAX_LINES; the
    rest at their first value)."""
    fig, axes = new_figure(min(FULL_WIDTH, 0.4 + 2.6 * len(varied)), 2.4, ncols=len(varied), squeeze=False)
    for ax, column in zip(axes[0], varied):
        others = [c for c in varied if c != column]
        groups = list(predictions.groupby(others, sort=False)) if others else [((), predictions)]
        for k, (key, rows) in enumerate(groups[:MAX_LINES]):
            rows = rows.sort_values(column)
            label = ", ".join(f"{c} = {v}" for c, v in zip(others, np.atleast_1d(key))) or None
            x, colour = rows[column], PALETTE[k]
            if pd.api.types.is_numeric_dtype(x) and x.nunique() > 2:
                ax.plot(x, rows["estimate"], color=colour, label=label)
                ax.fill_between(x, rows["lower_95"], rows["upper_95"], color=colour, alpha=0.2, linewidth=0)
            else:
                offset = (k - (min(len(groups), MAX_LINES) - 1) / 2) * 0.12
                positions = np.arange(len(rows)) + offset
                ax.errorbar(
                    positions,
                    rows["estimate"],
                    yerr=[rows["estimate"] - rows["lower_95"], rows["upper_95"] - rows["estimate"]],
                    fmt="o",
                    color=colour,
                    label=label,
                )
                ax.set_xticks(np.arange(len(rows)), rows[column].astype(str))
        ax.set_xlabel(column)
        ax.set_ylabel(outcome_label)
        if others:
            ax.legend()
    return fig


@styled
def predictive_check_figure(check: pd.DataFrame, title: str) -> Figure:
    """One panel per statistic: replicated values (mean and 95% interval of prior or posterior
    predictive draws) beside the observed one, a row per level; only the overall rows when a
    panel would have more than MAX_CHECK_ROWS."""
    observed = "observed" if "observed" in check else "observed_mean"
    check = check.assign(statistic=check["statistic"] if "statistic" in check else "mean")
    statistics = list(dict.fromkeys(check["statistic"]))
    ncols = min(len(statistics), 3)
    nrows = -(-len(statistics) // ncols)
    height = max(len(rows) for _, rows in check.groupby("statistic"))
    height = min(height, MAX_CHECK_ROWS)
    fig, axes = new_figure(
        min(FULL_WIDTH, 2.6 * ncols), nrows * (0.8 + 0.2 * height), ncols=ncols, nrows=nrows, squeeze=False
    )
    for ax, statistic in zip(axes.flat, statistics):
        rows = check[check["statistic"] == statistic]
        if len(rows) > MAX_CHECK_ROWS:
            rows = rows[rows["variable"] == "overall"]
        positions = np.arange(len(rows))[::-1]
        interval_plot(
            ax, rows["replicated_mean"], rows["replicated_q2.5"], rows["replicated_q97.5"], positions,
            label="replicated (95% interval)",
        )
        ax.plot(rows[observed], positions, "D", color=NEUTRAL, markersize=3.5, label="observed")
        ax.set_yticks(positions, ["all" if v == "overall" else f"{v} = {lv}" for v, lv in zip(rows["variable"], rows["level"])])
        ax.set_title(statistic)
    for ax in axes.flat[len(statistics):]:
        ax.set_visible(False)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    fig.suptitle(title)
    return fig
