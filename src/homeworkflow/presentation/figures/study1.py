"""Study 1 figures: odds ratios, predicted probability of homework, therapist effects, and the
posterior predictive check of the homework model.

Each `*_figure` function takes tables or posterior draws and returns a matplotlib Figure; the
computations behind them (`probability_curves`, `group_effect_intervals`) return DataFrames
so they can be tested and reused on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, PercentFormatter

from homeworkflow.presentation.labels import term_rows, variable_label
from .style import COLUMN_WIDTH, FULL_WIDTH, NEUTRAL, PALETTE, interval_plot, new_figure, reference_line, styled

MAX_DRAWS = 1000
# Names of the two levels of a boolean predictor in legends: (False, True).
LEVEL_NAMES = {
    "caregiver_present": ("No caregiver", "Caregiver present"),
    "licensed": ("Unlicensed therapist", "Licensed therapist"),
}
PANEL_TITLES = {"caregiver_present": "Caregiver in the session", "licensed": "Therapist licensure"}


def expit(x: np.ndarray) -> np.ndarray:
    """The inverse logit (log-odds to probability)."""
    return 1.0 / (1.0 + np.exp(-x))


def read_posterior(path) -> xr.Dataset:
    """The posterior group of a model's posterior.nc, in memory (xarray alone: no ArviZ import)."""
    with xr.open_dataset(path, group="posterior") as posterior:
        return posterior.load()


def thinned_draws(posterior: xr.Dataset, name: str, max_draws: int = MAX_DRAWS) -> xr.DataArray:
    """Draws of `name` with chain and draw stacked into `sample`, evenly thinned to `max_draws`."""
    stacked = posterior[name].stack(sample=("chain", "draw"))
    n = stacked.sizes["sample"]
    keep = np.unique(np.linspace(0, n - 1, min(n, max_draws)).astype(int))
    return stacked.isel(sample=keep).transpose("sample", ...)


# ------------------------------------------------------------------------------ odds ratios


@styled
def odds_ratio_forest_figure(
    odds_ratios: pd.DataFrame, reference_levels: Mapping[str, object] | None = None
) -> Figure:
    """Forest plot of posterior odds ratios (mean, 95% interval) on a log axis, reference at 1.

    Terms keep the formula's order (focal predictors first), top to bottom; the levels of each
    categorical predictor sit under a header naming its reference level.
    """
    table = odds_ratios.set_index("term")
    rows = term_rows(table.index, reference_levels)
    y = np.arange(len(rows))[::-1]
    fig, ax = new_figure(4.5, 0.8 + 0.16 * len(rows))
    points = [(pos, row["term"]) for pos, row in zip(y, rows) if row["term"] is not None]
    pos, terms = (np.array(v) for v in zip(*points))
    part = table.loc[terms]
    interval_plot(ax, part["or_mean"], part["or_q2.5"], part["or_q97.5"], pos, color=PALETTE[0])
    reference_line(ax, 1.0)
    ax.set_xscale("log")
    ax.set_yticks(y, [row["short"].strip() for row in rows])
    for tick, row in zip(ax.get_yticklabels(), rows):
        if row["term"] is None:
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("Odds ratio for homework\n(posterior mean, 95% CrI; log scale)")
    _log_ticks(ax, part["or_q2.5"].min(), part["or_q97.5"].max())
    ax.grid(axis="x", color="0.92", linewidth=0.5)
    return fig


def _log_ticks(ax, low: float, high: float) -> None:
    """Readable, evenly spaced ticks on a log-scaled x axis: doublings (0.25, 0.5, 1, 2, 4) over a
    narrow range, 1-3-10 steps over a wide one."""
    if np.log10(high / low) <= 1.6:
        candidates = 2.0 ** np.arange(-10, 11)
    else:
        candidates = np.array([10.0**k * m for k in range(-3, 3) for m in (1, 3)])
    ticks = candidates[(candidates >= low / 1.3) & (candidates <= high * 1.3)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


# ------------------------------------------------------------------- predicted probabilities


def predicted_probabilities(
    posterior: xr.Dataset,
    analysis: pd.DataFrame,
    scaling: Mapping[str, Mapping[str, float]],
    by: str,
    along: str = "child_age",
    n_points: int = 60,
) -> pd.DataFrame:
    """Posterior P(homework) across `along` (original units) for each level of boolean `by`.

    Every other predictor sits at its reference level (categorical) or its mean (numeric), and
    random effects at 0, i.e. a typical therapist and client. Returns one row per grid point and
    level: along, level (bool), mean, low, high (95% interval).
    """
    terms = [str(t) for t in posterior["term"].values]
    offset = scaling[along]["mean"] - float(analysis[along].mean())  # centring shift (0 if uncentred)
    values = analysis[along].astype(float)
    grid = np.linspace(values.min(), values.max(), n_points)
    base = np.array([_reference_value(t, analysis) for t in terms])
    by_term = f"{by}[True]"
    if by_term not in terms or along not in terms:
        raise ValueError(f"the model has no term '{by_term}' or '{along}'; terms: {terms}")

    intercept = thinned_draws(posterior, "Intercept").to_numpy()
    beta = thinned_draws(posterior, "b").sel(term=terms).to_numpy()
    rows = []
    for level in (False, True):
        x = np.tile(base, (n_points, 1))
        x[:, terms.index(along)] = grid
        x[:, terms.index(by_term)] = float(level)
        p = expit(intercept[:, None] + beta @ x.T)  # draws x grid
        low, high = np.quantile(p, [0.025, 0.975], axis=0)
        rows.append(
            pd.DataFrame({along: grid + offset, "level": level, "mean": p.mean(0), "low": low, "high": high})
        )
    return pd.concat(rows, ignore_index=True)


def probability_curves(
    posterior: xr.Dataset,
    analysis: pd.DataFrame,
    scaling: Mapping[str, Mapping[str, float]],
    contrasts: Sequence[str] = ("caregiver_present", "licensed"),
    along: str = "child_age",
) -> dict[str, pd.DataFrame]:
    """`predicted_probabilities` for each boolean contrast the model has a term for."""
    terms = {str(t) for t in posterior["term"].values}
    present = [by for by in contrasts if f"{by}[True]" in terms]
    if along not in terms or not present:
        raise ValueError(f"the model needs a '{along}' term and one of {[f'{c}[True]' for c in contrasts]}")
    return {by: predicted_probabilities(posterior, analysis, scaling, by, along) for by in present}


def _reference_value(term: str, analysis: pd.DataFrame) -> float:
    """0 for a level of a categorical (reference), the column mean for a numeric predictor."""
    if "[" in term or term not in analysis.columns:
        return 0.0
    return float(analysis[term].astype(float).mean())


@styled
def predicted_probability_figure(curves: Mapping[str, pd.DataFrame], along: str = "child_age") -> Figure:
    """One panel per contrast (e.g. caregiver present, licensed): P(homework) across child age,
    posterior mean and 95% band per level."""
    width = min(COLUMN_WIDTH * len(curves), FULL_WIDTH)
    fig, axes = new_figure(width, 2.6, ncols=len(curves), sharey=True, squeeze=False)
    for ax, (by, table) in zip(axes[0], curves.items()):
        names = LEVEL_NAMES.get(by, (f"not {variable_label(by).lower()}", variable_label(by)))
        for level, color in ((False, PALETTE[0]), (True, PALETTE[1])):
            part = table[table["level"] == level]
            ax.fill_between(part[along], part["low"], part["high"], color=color, alpha=0.2, linewidth=0)
            ax.plot(part[along], part["mean"], color=color, label=names[level])
        ax.set_title(PANEL_TITLES.get(by, variable_label(by)), loc="left")
        ax.set_xlabel("Child age (years)")
        ax.legend(loc="upper left")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes[0][0].set_ylabel("Predicted probability of homework")
    axes[0][0].set_ylim(0, 1)
    return fig


# --------------------------------------------------------------------------- group effects


def group_factor(posterior: xr.Dataset, preferred: str = "therapist_id") -> str:
    """The grouping factor to plot: `preferred` if the posterior holds its effects, else the first."""
    factors = [str(v).removeprefix("r_") for v in posterior.data_vars if str(v).startswith("r_")]
    if not factors:
        raise ValueError("the posterior holds no group effects (r_<factor>); was save_group_effects off?")
    return preferred if preferred in factors else factors[0]


def group_effect_intervals(posterior: xr.Dataset, factor: str = "therapist_id") -> pd.DataFrame:
    """Posterior mean and 95% interval of each level's random intercept (log-odds), sorted by
    mean; the level's identifier is dropped (rank only)."""
    draws = posterior[f"r_{factor}"]
    quantiles = draws.quantile([0.025, 0.975], dim=("chain", "draw")).to_numpy()
    table = pd.DataFrame(
        {"mean": draws.mean(("chain", "draw")).to_numpy(), "low": quantiles[0], "high": quantiles[1]}
    )
    table = table.sort_values("mean", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


@styled
def caterpillar_figure(effects: pd.DataFrame, factor: str = "therapist_id") -> Figure:
    """Sorted random intercepts with 95% intervals; those whose interval excludes 0 highlighted.
    No identifiers on the axis."""
    fig, ax = new_figure(COLUMN_WIDTH, 2.4)
    excludes = (effects["low"] > 0) | (effects["high"] < 0)
    for mask, color, label in (
        (~excludes, PALETTE[0], "95% interval includes 0"),
        (excludes, PALETTE[3], "95% interval excludes 0"),
    ):
        part = effects[mask]
        ax.vlines(part["rank"], part["low"], part["high"], color=color, linewidth=0.6, alpha=0.8)
        ax.plot(part["rank"], part["mean"], "o", color=color, markersize=1.8, label=f"{label} ({mask.sum()})")
    reference_line(ax, 0.0, orientation="horizontal")
    name = factor.removesuffix("_id")
    ax.set_xlabel(f"{name.capitalize()}s, sorted by posterior mean (n = {len(effects)})")
    ax.set_ylabel(f"{name.capitalize()} effect (log-odds)")
    ax.set_xticks([])
    ax.set_xlim(0, len(effects) + 1)
    ax.legend(loc="upper left", markerscale=2, handletextpad=0.2)
    return fig


# --------------------------------------------------------------------- posterior predictive


@styled
def ppc_figure(ppc: pd.DataFrame, variables: Sequence[str] = ("ebp",)) -> Figure:
    """Observed homework rate against the replicated rate (mean and 95% interval of replicated
    datasets), over all sessions and per level of each of `variables`."""
    rows = [ppc[ppc["variable"] == "overall"].assign(label="All sessions")]
    for variable in variables:
        part = ppc[ppc["variable"] == variable]
        rows.append(part.assign(label=[f"{variable_label(variable)}: {lv}" for lv in part["level"]]))
    table = pd.concat(rows, ignore_index=True)
    y = np.arange(len(table))[::-1]
    fig, ax = new_figure(COLUMN_WIDTH, 0.9 + 0.22 * len(table))
    interval_plot(
        ax,
        table["replicated_mean"],
        table["replicated_q2.5"],
        table["replicated_q97.5"],
        y,
        color=PALETTE[0],
    )
    ax.plot(table["observed_mean"], y, "D", color=NEUTRAL, markersize=3.5, markerfacecolor="white", zorder=3)
    ax.set_yticks(y, table["label"])
    ax.set_ylim(-0.7, len(table) - 0.3)
    ax.axhline(len(table) - 1.5, color="0.8", linewidth=0.5)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("Share of sessions with homework")
    handles = [
        Line2D([], [], color=PALETTE[0], marker="o", markersize=4, label="Replicated (mean, 95% interval)"),
        Line2D([], [], color=NEUTRAL, marker="D", markersize=3.5, markerfacecolor="white", linestyle="none",
               label="Observed"),
    ]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(-0.02, 1.0), ncols=1)
    return fig
