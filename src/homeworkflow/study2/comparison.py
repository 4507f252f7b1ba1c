"""Side-by-side tables of Study 2: Bayesian vs GEE (Table 3), naive vs corrected for detector error."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .measurement_error import TERMS
from .slopes import naive_vs_corrected

ESTIMATE_COLUMNS = ["term", "method", "estimate", "std_error", "ci_low", "ci_high", "p_value"]


def bayesian_estimates(summary: pd.DataFrame) -> pd.DataFrame:
    """A generic model's summary.csv in the estimate/std_error/ci_* vocabulary of the GEE table."""
    return summary.rename(
        columns={"mean": "estimate", "sd": "std_error", "q2.5": "ci_low", "q97.5": "ci_high"}
    )


def bayes_vs_gee(summary: pd.DataFrame, gee: pd.DataFrame) -> pd.DataFrame:
    """Table 3: each population-level term by both methods, and their gap in posterior SDs."""
    bayes = bayesian_estimates(summary).assign(method="Bayesian multilevel", p_value=float("nan"))
    terms = ["Intercept", *TERMS]
    bayes = bayes[bayes["term"].isin(terms)]
    table = pd.concat([bayes[ESTIMATE_COLUMNS], gee[ESTIMATE_COLUMNS]], ignore_index=True)
    posterior = bayes.set_index("term")
    gee_estimate = gee.set_index("term")["estimate"]
    gap = (gee_estimate - posterior["estimate"]).abs() / posterior["std_error"]
    table["gap_in_posterior_sd"] = table["term"].map(gap)
    order = {t: i for i, t in enumerate(terms)}
    return table.sort_values(["term", "method"], key=lambda c: c.map(order) if c.name == "term" else c)


def analysis_truth(truth: Mapping, outcome: str, centre: float) -> dict[str, float]:
    """The simulator's true coefficients of `outcome` as the analysis model estimates them.

    The baseline is centred at `centre` (the analysis table's) instead of the simulator's own
    centre c: with d = centre - c, the intercept becomes Intercept + baseline_slope * d and the
    review slope review_slope + interaction * d. `sigma` is the residual SD of the rounded scores,
    sqrt(sigma^2 + 1/12) (`sigma_with_rounding`), since the model sees rounded changes. Other terms
    are unchanged.
    """
    part = truth[outcome]
    values = {term: float(value) for term, value in part["coefficients"].items()}
    if "sigma_with_rounding" in part:
        values["sigma"] = float(part["sigma_with_rounding"])
    shift = float(centre) - float(part["centre"])
    values["Intercept"] += values["baseline_centred"] * shift
    values["review_percentage"] += values["review_percentage:baseline_centred"] * shift
    return values


def corrected_vs_naive(
    naive_summary: pd.DataFrame,
    corrected: pd.DataFrame,
    truth: dict | None,
    outcome: str,
    centre: float,
) -> pd.DataFrame:
    """The naive model (detected review %) beside the measurement-error model, with the
    simulated truth (baseline centred at `centre`) where there is one."""
    true_values = analysis_truth(truth, outcome, centre) if truth else None
    naive = bayesian_estimates(naive_summary)
    return naive_vs_corrected(naive, corrected, true_values)
