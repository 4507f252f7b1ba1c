"""Study 2 figures: action recommendations and review per session, review percentage against
symptom change, slopes per severity band, Bayesian vs GEE, and naive vs corrected estimates.

Figures show aggregates only: histograms, binned means (bins with fewer than `min_cell`
intervals are left out) and model estimates, never one point per client or session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from homeworkflow.presentation.labels import OUTCOME_LABELS, term_label
from .study1 import thinned_draws
from .style import FULL_WIDTH, NEUTRAL, PALETTE, interval_plot, new_figure, reference_line, styled

REVIEW = "review_percentage"
INTERACTION = "review_percentage:baseline_centred"
BASELINE = "baseline_centred"
METHOD_COLOURS = {"posterior": PALETTE[0], "Bayesian": PALETTE[0], "GEE": PALETTE[1]}
BAND_COLOURS = [PALETTE[2], PALETTE[0], PALETTE[4], PALETTE[5]]  # mild to severe
SLOPE_LABEL = "Change in score per point of review %"


def outcome_title(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, outcome)


# ------------------------------------------------------------------- sessions: AR and review


@styled
def session_distributions_figure(sessions: pd.DataFrame) -> Figure:
    """Left: share of sessions by number of detected action recommendations. Right: share of
    sessions by review percentage, sessions without any detected review as their own bar."""
    fig, (left, right) = new_figure(FULL_WIDTH, 2.4, ncols=2)
    counts = sessions["ar_count"].value_counts(normalize=True).sort_index()
    left.bar(counts.index, counts.to_numpy(), color=PALETTE[0], width=0.8)
    mean = sessions["ar_count"].mean()
    left.axvline(mean, color=NEUTRAL, linestyle="--", linewidth=0.8)
    left.set_xlabel("Action recommendations detected in the session")
    left.set_ylabel("Share of sessions")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_title(f"Action recommendations (dashed: mean {mean:.1f})", loc="left")

    review = sessions["review_percentage"].astype(float)
    n = len(review)
    zero_share = float((review == 0).mean())
    positive = review[review > 0]
    width = 2.0
    edges = np.arange(0, np.ceil(positive.max() / width) * width + width, width) if len(positive) else [0, width]
    heights, edges = np.histogram(positive, bins=edges)
    none_at = -2 * width  # sessions without review: a bar of their own, apart from the histogram
    right.bar(none_at, zero_share, width=width * 0.9, color=NEUTRAL)
    right.bar(edges[:-1], heights / n, width=np.diff(edges) * 0.9, color=PALETTE[0], align="edge")
    right.text(none_at, zero_share, f"{zero_share:.0%}", ha="center", va="bottom", fontsize=7)
    ticks = [t for t in MaxNLocator(nbins=6, integer=True).tick_values(0, edges[-1]) if 0 <= t <= edges[-1]]
    right.set_xticks([none_at, *ticks], ["none", *(f"{t:g}" for t in ticks)])
    right.set_xlabel("Review percentage (share of the session's dialogue, %)")
    right.set_title("Review of earlier recommendations", loc="left")
    for ax in (left, right):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return fig


# ------------------------------------------------------------- review percentage vs change


def bands_of(slopes: pd.DataFrame) -> dict[str, float]:
    """{band: representative baseline} of a severity_slopes.csv, in its order."""
    return dict(zip(slopes["band"], slopes["baseline"].astype(float)))


def band_groups(bands: Sequence[str], data_bands: Sequence[str]) -> dict[str, str]:
    """Map each severity band of the data ("moderately severe") to the band of the slope tables
    that holds it ("moderately severe or severe"); bands without a slope (minimal) are left out."""
    mapping = {}
    for band in bands:
        for member in band.split(" or "):
            if member in data_bands:
                mapping[member] = band
    return mapping


def binned_change(
    intervals: pd.DataFrame, bands: Mapping[str, float], min_cell: int = 11, n_bins: int = 4
) -> pd.DataFrame:
    """Mean change (and its standard error) per severity band and bin of review percentage.

    Intervals without detected review form the first bin; the rest are cut at quantiles of
    review percentage into `n_bins` bins. Cells with fewer than `min_cell` intervals are dropped.
    """
    data = intervals.copy()
    groups = band_groups(list(bands), [str(b) for b in data["band"].astype(str).unique()])
    data["group"] = data["band"].astype(str).map(groups)
    data = data.dropna(subset=["group"])
    review = data[REVIEW].astype(float)
    positive = review[review > 0]
    inner = np.unique(np.quantile(positive, np.linspace(0, 1, n_bins + 1)[1:-1])) if len(positive) else []
    data["bin"] = np.where(review > 0, 1 + np.searchsorted(inner, review, side="right"), 0)
    table = (
        data.groupby(["group", "bin"], observed=True)
        .agg(review=(REVIEW, "mean"), change=("change", "mean"), sd=("change", "std"), n=("change", "size"))
        .reset_index()
    )
    table["se"] = table["sd"] / np.sqrt(table["n"])
    return table[table["n"] >= min_cell].drop(columns="sd").rename(columns={"group": "band"}).reset_index(drop=True)


def band_mean_baselines(intervals: pd.DataFrame, bands: Sequence[str]) -> dict[str, float]:
    """Mean baseline score of the intervals in each band (of the slope tables), so that lines
    drawn at it pass through the same intervals as the binned means."""
    groups = band_groups(list(bands), [str(b) for b in intervals["band"].astype(str).unique()])
    group = intervals["band"].astype(str).map(groups)
    means = intervals.groupby(group)["baseline"].mean()
    return {band: float(means[band]) for band in bands if band in means.index}


def regression_lines(
    posterior: xr.Dataset, bands: Mapping[str, float], centre: float, review_max: float, n_points: int = 50
) -> pd.DataFrame:
    """Posterior expected change across review percentage at each band's representative baseline
    (random effects 0): mean and 95% interval per grid point."""
    terms = [str(t) for t in posterior["term"].values]
    beta = thinned_draws(posterior, "b")
    intercept = thinned_draws(posterior, "Intercept").to_numpy()[:, None]
    grid = np.linspace(0, review_max, n_points)

    def coef(term):
        return beta.sel(term=term).to_numpy()[:, None] if term in terms else 0.0

    rows = []
    for band, baseline in bands.items():
        d = baseline - centre
        mu = intercept + coef(BASELINE) * d + (coef(REVIEW) + coef(INTERACTION) * d) * grid
        low, high = np.quantile(mu, [0.025, 0.975], axis=0)
        rows.append(pd.DataFrame({"band": band, REVIEW: grid, "mean": mu.mean(0), "low": low, "high": high}))
    return pd.concat(rows, ignore_index=True)


def review_change_panel(
    intervals: pd.DataFrame, posterior: xr.Dataset, bands: Mapping[str, float], centre: float, min_cell: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One outcome's panel of `review_change_figure`: binned means, and posterior lines at each
    band's mean baseline up to the 98th percentile of review percentage."""
    lines = regression_lines(
        posterior,
        band_mean_baselines(intervals, list(bands)),
        centre,
        review_max=float(intervals[REVIEW].quantile(0.98)),
    )
    return binned_change(intervals, bands, min_cell), lines


@styled
def review_change_figure(panels: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> Figure:
    """One panel per outcome: binned mean change (points, +-1 SE) and posterior regression lines
    with 95% bands, one colour per baseline severity band."""
    fig, axes = new_figure(FULL_WIDTH, 3.0, ncols=len(panels), squeeze=False)
    for ax, (outcome, (binned, lines)) in zip(axes[0], panels.items()):
        for k, band in enumerate(lines["band"].unique()):
            color = BAND_COLOURS[k % len(BAND_COLOURS)]
            part = lines[lines["band"] == band]
            ax.fill_between(part[REVIEW], part["low"], part["high"], color=color, alpha=0.15, linewidth=0)
            ax.plot(part[REVIEW], part["mean"], color=color, label=band)
            points = binned[binned["band"] == band]
            ax.errorbar(
                points["review"], points["change"], yerr=points["se"], fmt="o", color=color,
                markersize=3, elinewidth=0.8, capsize=0,
            )
        reference_line(ax, 0.0, orientation="horizontal")
        ax.set_title(outcome_title(outcome), loc="left")
        ax.set_xlabel("Review percentage (interval mean, %)")
        ax.set_ylabel("Score change\n(negative = improvement)")
        ax.legend(title="Baseline severity", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
    return fig


# --------------------------------------------------------------------------- severity slopes


@styled
def severity_slopes_figure(slopes: Mapping[str, pd.DataFrame]) -> Figure:
    """Slope of review percentage per baseline severity band, posterior and GEE, per outcome."""
    fig, axes = new_figure(FULL_WIDTH, 2.5, ncols=len(slopes), sharex=True, squeeze=False)
    for ax, (outcome, table) in zip(axes[0], slopes.items()):
        bands = list(dict.fromkeys(table["band"]))
        y = np.arange(len(bands))[::-1].astype(float)
        for shift, (method, label) in zip((0.15, -0.15), (("posterior", "Bayesian (95% CrI)"), ("GEE", "GEE (95% CI)"))):
            part = table[table["method"] == method].set_index("band").loc[bands]
            interval_plot(
                ax, part["estimate"], part["ci_low"], part["ci_high"], y + shift,
                color=METHOD_COLOURS[method], marker="o" if method == "posterior" else "s", label=label,
            )
        reference_line(ax, 0.0)
        baselines = table.drop_duplicates("band").set_index("band")["baseline"]
        ax.set_yticks(y, [_band_tick(band, baselines[band]) for band in bands])
        ax.set_ylim(-0.6, len(bands) - 0.4)
        ax.set_title(outcome_title(outcome), loc="left")
        ax.set_xlabel(SLOPE_LABEL)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    return fig


def _band_tick(band: str, baseline: float) -> str:
    return band.replace(" or ", " or\n") + f"\n(baseline {baseline:g})"


# --------------------------------------------------------------------------- Bayes vs GEE


def _term_grid(outcomes: Sequence[str], terms: Sequence[str]):
    """A column of panels per outcome (headed by the outcome), a row per term (titled by it)."""
    fig = new_figure(FULL_WIDTH, 0.6 + 0.85 * len(terms))[0]
    fig.clear()
    columns = fig.subfigures(1, len(outcomes), wspace=0.04)
    columns = np.atleast_1d(columns)
    axes = np.empty((len(terms), len(outcomes)), dtype=object)
    for col, (subfig, outcome) in enumerate(zip(columns, outcomes)):
        subfig.suptitle(outcome_title(outcome), x=0.02, ha="left", fontsize=8, fontweight="bold")
        panels = subfig.subplots(len(terms), 1, squeeze=False)[:, 0]
        for row, (ax, term) in enumerate(zip(panels, terms)):
            ax.set_title(term_label(term), loc="left", fontweight="normal", fontsize=7, style="italic")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            axes[row, col] = ax
    return fig, axes


def _zero_line_if_in_range(ax) -> None:
    """Mark 0 only where it falls inside the data's range, so the intervals keep the space."""
    ax.margins(x=0.06)
    ax.autoscale_view()
    low, high = ax.get_xlim()
    if low < 0 < high:
        reference_line(ax, 0.0)
    ax.set_xlim(low, high)


@styled
def bayes_vs_gee_figure(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Estimates and 95% intervals of each term of the outcome models, Bayesian multilevel beside
    GEE; one row per term, one column per outcome (each panel on its own scale)."""
    first = next(iter(tables.values()))
    terms = list(dict.fromkeys(first["term"]))
    fig, axes = _term_grid(list(tables), terms)
    for col, (outcome, table) in enumerate(tables.items()):
        methods = list(dict.fromkeys(table["method"]))
        for row, term in enumerate(terms):
            ax = axes[row][col]
            part = table[table["term"] == term].set_index("method").loc[methods]
            for k, method in enumerate(methods):
                color = PALETTE[0] if method.startswith("Bayes") else PALETTE[1]
                interval_plot(ax, [part.loc[method, "estimate"]], [part.loc[method, "ci_low"]],
                              [part.loc[method, "ci_high"]], [1 - k], color=color)
            _zero_line_if_in_range(ax)
            ax.set_yticks([1, 0][: len(methods)], [_short_method(m) for m in methods])
            ax.set_ylim(-0.6, 1.6)
    for ax in axes[-1]:
        ax.set_xlabel("Estimate (95% interval)")
    return fig


def _short_method(method: str) -> str:
    return "Bayesian" if method.lower().startswith("bayes") else method.split(" (")[0]


# ------------------------------------------------------------------- naive vs corrected


@styled
def naive_vs_corrected_figure(
    tables: Mapping[str, pd.DataFrame], terms: Sequence[str] = (REVIEW, INTERACTION)
) -> Figure:
    """Naive (observed review %) against measurement-error-corrected estimates of the review
    terms, with the true value marked where the data are simulated."""
    fig, axes = _term_grid(list(tables), terms)
    has_truth = False
    for col, (outcome, table) in enumerate(tables.items()):
        table = table.set_index("term")
        for row, term in enumerate(terms):
            ax = axes[row][col]
            entry = table.loc[term]
            for k, (kind, color) in enumerate((("naive", PALETTE[1]), ("corrected", PALETTE[0]))):
                interval_plot(ax, [entry[f"{kind}_estimate"]], [entry[f"{kind}_ci_low"]],
                              [entry[f"{kind}_ci_high"]], [1 - k], color=color)
            if "truth" in table.columns and pd.notna(entry["truth"]):
                ax.axvline(entry["truth"], color=PALETTE[2], linewidth=1.2, zorder=1)
                has_truth = True
            _zero_line_if_in_range(ax)
            ax.set_yticks([1, 0], ["Naive", "Corrected"])
            ax.set_ylim(-0.6, 1.6)
    for ax in axes[-1]:
        ax.set_xlabel("Estimate (95% CrI)")
    if has_truth:
        handle = Line2D([], [], color=PALETTE[2], linewidth=1.2, label="True value (simulation)")
        fig.legend(handles=[handle], loc="outside lower center")
    return fig
