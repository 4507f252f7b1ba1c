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
design's (`homeworkflow.design.seeds`). Imports neither PyMC nor PyTensor at import time.
Documented in docs/design.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from homeworkflow.design.replicates import fit_replicate, mcse, set_parameter, simulate_intervals
from homeworkflow.design.seeds import recovery_seeds

log = logging.getLogger(__name__)

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


def recovery_replicate(settings: Mapping, threads: int = 1) -> pd.DataFrame:
    """Simulate and fit one replicate; one row per reported term (REPLICATE_COLUMNS).

    `settings` (a rule's params): model (the configured outcome model's formula, family, priors,
    mass_matrix), sampling, gate, simulation (Study 2 simulator overrides), parameter (e.g.
    'phq9_change.interaction'), effect, effect_label, replicate, seed (master), outcome, centre
    (the baseline centre), exposure (review_percentage_true: the truth the simulator used;
    review_percentage: the detector's, which the measurement-error model is for).
    """
    from homeworkflow.models import ModelSpec
    from homeworkflow.models.posterior.summaries import SAMPLE_DIMS, term_draws
    from homeworkflow.study2.comparison import analysis_truth

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
    coordinates = {"effect": float(settings["effect"]), "replicate": int(settings["replicate"])}
    out, result = fit_replicate(
        data, spec, lambda terms: analysis_truth(truth, outcome, settings["centre"]), coordinates, seeds, threads
    )
    out = out.rename(columns={"covers": "covers_95"})
    out["sd"] = out["term"].map(result.summary.set_index("term")["sd"])
    # The summary has 95% intervals; the 90% ones come from the same draws.
    quantiles = term_draws(result.idata.posterior).quantile([0.05, 0.95], dim=SAMPLE_DIMS)
    out["q5"], out["q95"] = zip(*(map(float, quantiles[term].values) for term in out["term"]))
    out["covers_90"] = [
        bool(lo <= t <= hi) if np.isfinite(t) else pd.NA for t, lo, hi in zip(out["truth"], out["q5"], out["q95"])
    ]
    out["n_intervals"] = len(data)
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
