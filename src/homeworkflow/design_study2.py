"""Study 2 recovery and power: the workflow's outcome model refitted to many simulated data sets.

For each value of one Study 2 simulator parameter (by default the PHQ-9 interaction of review
percentage and baseline) and each replicate, simulate Study 2, derive the intervals table exactly as
the workflow does, fit the configured outcome model and record per term the truth, the posterior
mean and SD, the 90% and 95% intervals and whether they hold the truth (`recovery_replicate`).
`recovery_table` aggregates: coverage with its Monte Carlo SE, power (95% interval excludes 0), bias,
and the mean posterior SD beside the SD of the posterior means over replicates (calibrated
intervals: the two agree). `recovery_figure` draws every replicate's interval of one term.

The workflow's default data set is one such draw, so whether its interval holds the truth is a coin
with about 90% on one side; these replicates measure the coin. Seeds are hashed like the Study 1
design's (`homeworkflow.design.derive_seed`). Imports neither PyMC nor PyTensor at import time.
Documented in docs/design.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .design import derive_seed, interval_rows, mcse, set_parameter

log = logging.getLogger(__name__)

OUTCOMES = ("phq9", "gad7")
EXPOSURES = ("review_percentage_true", "review_percentage")
REPLICATE_COLUMNS = [
    "effect",
    "replicate",
    "term",
    "truth",
    "mean",
    "sd",
    "q5",
    "q95",
    "q2.5",
    "q97.5",
    "covers_90",
    "covers_95",
    "excludes_zero",
    "n_intervals",
    "divergences",
    "max_rhat",
    "min_ess_bulk",
    "simulation_seed",
    "sampler_seed",
]


def value_label(value: float) -> str:
    """Wildcard value of a simulator parameter value, e.g. 0.006 -> 'v0.006'."""
    return f"v{float(value):g}"


def value_levels(values) -> dict[str, float]:
    """Parameter values by label, in config order."""
    out = {}
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ValueError(f"design.study2.effects: values must be finite numbers, got {value!r}")
        out.setdefault(value_label(value), float(value))
    if not out:
        raise ValueError("design.study2.effects: no values")
    return out


def recovery_seeds(master: int, outcome: str, effect_label: str, replicate: int) -> dict[str, int]:
    """Seeds of one Study 2 replicate: the simulator's and the sampler's."""
    parts = ("study2", outcome, effect_label, replicate)
    return {
        "simulation": derive_seed(master, *parts, "simulate"),
        "sampler": derive_seed(master, *parts, "sample"),
    }


def simulate_intervals(params: Mapping, seed: int, outcome: str, centre: float) -> tuple[pd.DataFrame, dict]:
    """Simulate Study 2 and derive `outcome`'s intervals table as the workflow does
    (validate -> clean -> features). Returns (intervals, truth)."""
    from .clean import clean_study2
    from .features import study2_intervals
    from .simulate import simulate_study2
    from .validate import validate_tables

    tables, truth = simulate_study2(dict(params), seed=seed)
    tables, _ = clean_study2(validate_tables("study2", tables))
    intervals, _ = study2_intervals(tables, outcome, centre)
    return intervals, truth


def recovery_replicate(settings: Mapping, threads: int = 1) -> pd.DataFrame:
    """Simulate and fit one replicate; one row per reported term (REPLICATE_COLUMNS).

    `settings` (a rule's params): model (the configured outcome model's formula, family, priors,
    mass_matrix), sampling, gate, simulation (Study 2 simulator overrides), parameter (e.g.
    'phq9_change.interaction'), effect, effect_label, replicate, seed (master), outcome, centre
    (the baseline centre), exposure (review_percentage_true: the truth the simulator used;
    review_percentage: the detector's, which the measurement-error model is for).
    """
    from .models import ModelSpec, fit_model
    from .models.posterior.summaries import SAMPLE_DIMS, term_draws
    from .study2.tables import analysis_truth

    outcome, label = settings["outcome"], settings["effect_label"]
    seeds = recovery_seeds(settings["seed"], outcome, label, settings["replicate"])
    params = set_parameter(settings.get("simulation") or {}, settings["parameter"], settings["effect"])
    intervals, truth = simulate_intervals(params, seeds["simulation"], outcome, settings["centre"])
    data = intervals.assign(review_percentage=intervals[settings["exposure"]])
    spec = ModelSpec.from_config(
        f"recovery_{outcome}_{label}",
        {
            **dict(settings["model"]),
            **dict(settings["sampling"]),
            "seed": seeds["sampler"],
            "gate": {**dict(settings["gate"]), "on_fail": "warn"},
            "save_group_effects": False,
            "save_log_likelihood": False,
        },
    )
    result = fit_model(data, spec, threads=threads)
    out = interval_rows(result.summary, analysis_truth(truth, outcome, settings["centre"]))
    out = out.rename(columns={"covers": "covers_95"})
    out["sd"] = out["term"].map(result.summary.set_index("term")["sd"])
    # The summary has 95% intervals; the 90% ones come from the same draws.
    quantiles = term_draws(result.idata.posterior).quantile([0.05, 0.95], dim=SAMPLE_DIMS)
    out["q5"], out["q95"] = zip(*(map(float, quantiles[term].values) for term in out["term"]))
    out["covers_90"] = [
        bool(lo <= t <= hi) if np.isfinite(t) else pd.NA for t, lo, hi in zip(out["truth"], out["q5"], out["q95"])
    ]
    out.insert(0, "effect", float(settings["effect"]))
    out.insert(1, "replicate", int(settings["replicate"]))
    out["n_intervals"] = len(data)
    out["divergences"] = int(result.diagnostics["divergences"])
    out["max_rhat"] = float(result.diagnostics["max_rhat"])
    out["min_ess_bulk"] = float(result.diagnostics["min_ess_bulk"])
    out["simulation_seed"] = seeds["simulation"]
    out["sampler_seed"] = seeds["sampler"]
    log.info(
        "Study 2 %s, %s = %s, replicate %s: %d intervals, fit in %.1f s",
        outcome,
        settings["parameter"],
        settings["effect"],
        settings["replicate"],
        len(data),
        result.diagnostics["total_s"],
    )
    return out[REPLICATE_COLUMNS]


def recovery_table(replicates: pd.DataFrame) -> pd.DataFrame:
    """Per parameter value and term: truth, replicates, coverage of the 90% and 95% intervals with
    Monte Carlo SEs, power (share of 95% intervals excluding 0), mean estimate, bias, SD of the
    estimates over replicates, mean posterior SD, their ratio (about 1 when the posterior's width
    matches the estimates' spread), and fits with divergences. Terms without a truth are left out."""
    known = replicates[replicates["truth"].notna()]
    if known.empty:
        raise ValueError("no replicate rows with a true value")
    grouped = known.groupby(["effect", "term"], sort=False)
    out = grouped.agg(
        truth=("truth", "mean"),
        replicates=("replicate", "nunique"),
        coverage_90=("covers_90", lambda s: s.astype(float).mean()),
        coverage_95=("covers_95", lambda s: s.astype(float).mean()),
        power=("excludes_zero", lambda s: s.astype(float).mean()),
        mean_estimate=("mean", "mean"),
        sd_of_estimates=("mean", "std"),
        mean_posterior_sd=("sd", "mean"),
        divergent_fits=("divergences", lambda s: int((s > 0).sum())),
    ).reset_index()
    out["coverage_90_mcse"] = mcse(out["coverage_90"], out["replicates"])
    out["coverage_95_mcse"] = mcse(out["coverage_95"], out["replicates"])
    out["power_mcse"] = mcse(out["power"], out["replicates"])
    out["bias"] = out["mean_estimate"] - out["truth"]
    out["sd_ratio"] = out["mean_posterior_sd"] / out["sd_of_estimates"]
    columns = [
        "effect",
        "term",
        "truth",
        "replicates",
        "coverage_90",
        "coverage_90_mcse",
        "coverage_95",
        "coverage_95_mcse",
        "power",
        "power_mcse",
        "mean_estimate",
        "bias",
        "sd_of_estimates",
        "mean_posterior_sd",
        "sd_ratio",
        "divergent_fits",
    ]
    return out.sort_values("effect", kind="stable")[columns].reset_index(drop=True)


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
    from .figures.style import FULL_WIDTH, PALETTE, figure_style, interval_plot, new_figure, reference_line

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
