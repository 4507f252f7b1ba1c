"""The design studies' reports: Markdown tables and figures of the power analysis, the SBC and the
Study 2 recovery (drawn in the presentation package's house style)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from homeworkflow.design.sbc import bin_counts


def power_markdown(power: pd.DataFrame, term: str, parameter: str) -> str:
    """The power table as Markdown, rounded for reading."""
    shown = power.copy()
    for column in ("power", "power_mcse", "coverage", "coverage_mcse"):
        shown[column] = shown[column].round(3)
    for column in ("true_log_odds", "mean_estimate", "bias"):
        shown[column] = shown[column].round(3)
    head = (
        f"Power and 95% interval coverage of `{term}` (simulator parameter `{parameter}` = effect, an "
        "odds ratio). Power = share of replicates whose 95% interval excludes 0 (at OR 1: the "
        "false-positive rate); MCSE = Monte Carlo standard error.\n\n"
    )
    return head + shown.to_markdown(index=False)


def power_figure(power: pd.DataFrame, term: str, target: float = 0.8):
    """Power curves: x = effect (odds ratio, log axis), y = power, one line per design, with
    Monte Carlo standard errors; dashed line at `target`, dotted at 0.05."""
    from homeworkflow.presentation.figures.style import COLUMN_WIDTH, NEUTRAL, figure_style, new_figure, reference_line

    with figure_style():
        fig, ax = new_figure(COLUMN_WIDTH + 1.6, 2.4)
        for design, rows in power.groupby("design", sort=False):
            label = design
            if "n_sessions" in rows:
                label = f"{design} ({int(rows['n_sessions'].iloc[0])} sessions)"
            ax.errorbar(
                rows["effect"], rows["power"], yerr=rows["power_mcse"], marker="o", capsize=2, label=label
            )
        reference_line(ax, target, orientation="horizontal")
        ax.axhline(0.05, color=NEUTRAL, linewidth=0.6, linestyle=":", zorder=0)
        ax.set_xscale("log")
        effects = sorted(power["effect"].unique())
        ax.set_xticks(effects)
        ax.set_xticklabels([f"{e:g}" for e in effects])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"True odds ratio ({term})")
        ax.set_ylabel("Power (95% interval excludes OR 1)")
        ax.legend(title="Design: t therapists, c clients\nper therapist, s sessions per client",
                  loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def sbc_markdown(table: pd.DataFrame, alpha: float) -> str:
    verdict = (
        "**No miscalibration detected**"
        if table["calibrated"].all()
        else "**MISCALIBRATION**: " + ", ".join(table.loc[~table["calibrated"], "term"])
    )
    shown = table.copy()
    for column in ("chi2", "chi2_p", "ks", "ks_p", "p_min", "p_bonferroni", "mean_rank_fraction"):
        shown[column] = shown[column].round(4)
    return (
        f"Simulation-based calibration: ranks of the true parameters among {int(table['n_draws'].iloc[0])} "
        f"thinned posterior draws, {int(table['replicates'].max())} replicates. Uniformity tests "
        f"(chi-square on bins, Kolmogorov-Smirnov), Bonferroni over {2 * len(table)} tests, "
        f"alpha {alpha:g}: {verdict} (every p_bonferroni > {alpha:g}).\n\n" + shown.to_markdown(index=False)
    )


def sbc_figure(ranks: pd.DataFrame, bins: int, level: float = 0.99):
    """Rank histograms, one panel per term, with the central `level` band of a bin count under
    uniformity (Binomial(replicates, 1/bins)) and its expectation (dashed)."""
    from scipy import stats

    from homeworkflow.presentation.figures.style import FULL_WIDTH, NEUTRAL, PALETTE, figure_style, new_figure

    terms = list(dict.fromkeys(ranks["term"]))
    n_draws = int(ranks["n_draws"].iloc[0])
    columns = min(3, len(terms))
    nrows = math.ceil(len(terms) / columns)
    with figure_style():
        fig, axes = new_figure(FULL_WIDTH, 1.5 * nrows + 0.3, nrows=nrows, ncols=columns, squeeze=False)
        for ax, term in zip(axes.flat, terms):
            part = ranks.loc[ranks["term"] == term, "rank"].to_numpy()
            counts = bin_counts(part, n_draws, bins)
            n = len(part)
            lo, hi = stats.binom.ppf([(1 - level) / 2, 1 - (1 - level) / 2], n, 1 / bins)
            ax.axhspan(lo, hi, color=NEUTRAL, alpha=0.15, linewidth=0)
            ax.axhline(n / bins, color=NEUTRAL, linewidth=0.8, linestyle="--")
            ax.bar(np.arange(bins), counts, width=0.9, color=PALETTE[0])
            ax.set_title(term)
            ax.set_xticks([-0.45, bins - 0.55])
            ax.set_xticklabels(["0", str(n_draws)])
        for ax in list(axes.flat)[len(terms) :]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("Replicates")
        for ax in axes[-1, :]:
            ax.set_xlabel("Rank of the truth")
        fig.suptitle(
            f"SBC rank histograms: {n} replicates, {bins} bins; grey band: {level:.0%} range under uniformity",
            fontsize=8,
        )
    return fig


def recovery_markdown(table: pd.DataFrame, parameter: str, exposure: str) -> str:
    """The recovery table as Markdown, rounded for reading."""
    shown = table.copy()
    for column in shown.columns:
        if column not in ("term", "replicates", "divergent_fits") and shown[column].dtype.kind == "f":
            shown[column] = shown[column].round(4)
    head = (
        f"Study 2 recovery: the outcome model refitted to replicate simulated data sets, for each value "
        f"of the simulator's `{parameter}` (`effect`), on `{exposure}`. Coverage: share of 90% / 95% "
        "intervals holding the truth (calibrated: 0.90 / 0.95); power: share of 95% intervals "
        "excluding 0; sd_ratio: mean posterior SD over the SD of the estimates across replicates "
        "(calibrated: about 1). MCSE: Monte Carlo standard error.\n\n"
    )
    return head + shown.to_markdown(index=False)


def recovery_figure(replicates: pd.DataFrame, term: str, parameter: str):
    """One panel per parameter value: each replicate's 90% interval of `term` (sorted by its
    mean), those missing the truth in a second colour, the truth as a solid vertical line and 0
    as a dashed one."""
    from homeworkflow.presentation.figures.style import FULL_WIDTH, PALETTE, figure_style, interval_plot, new_figure, reference_line

    rows = replicates[replicates["term"] == term]
    if rows.empty:
        raise ValueError(f"no replicate rows for term {term!r}; terms present: {sorted(replicates['term'].unique())}")
    effects = sorted(rows["effect"].unique())
    with figure_style():
        fig, axes = new_figure(FULL_WIDTH, 3.2, ncols=len(effects), squeeze=False, sharey=True)
        for ax, effect in zip(axes[0], effects):
            part = rows[rows["effect"] == effect].sort_values("mean")
            position = np.arange(len(part))
            hit = part["covers_90"].astype(bool).to_numpy()
            for mask, color, label in ((hit, PALETTE[0], "holds the truth"), (~hit, PALETTE[3], "misses it")):
                if mask.any():
                    interval_plot(
                        ax, part["mean"][mask], part["q5"][mask], part["q95"][mask], position[mask],
                        color=color, marker=".", label=label,
                    )  # fmt: skip
            truth = float(part["truth"].iloc[0])
            ax.axvline(truth, color=PALETTE[2], linewidth=1.2, zorder=3)
            reference_line(ax, 0.0)
            ax.set_title(f"{parameter} = {effect:g}\n{hit.mean():.0%} of {len(part)} intervals hold the truth")
            ax.set_xlabel(f"{term} (90% interval)")
            ax.set_yticks([])
        axes[0, 0].set_ylabel("Replicates, sorted by estimate")
        axes[0, -1].legend(loc="lower right")
    return fig
