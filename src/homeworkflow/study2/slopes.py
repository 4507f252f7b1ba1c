"""Slope of review percentage at each severity band's representative baseline, and the naive vs
corrected comparison table.

With change = ... + b_review * review + b_baseline * (baseline - centre)
                 + b_interaction * review * (baseline - centre),
the slope of review percentage at a baseline score x is b_review + b_interaction * (x - centre).
A negative slope is beneficial: more review, larger reduction in the score.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

REVIEW = "review_percentage"
INTERACTION = "review_percentage:baseline_centred"

# Representative baseline of each band: the midpoint of its score range (standard cut-offs).
# PHQ-9 mild 5-9, moderate 10-14, moderately severe or severe 15-27; GAD-7 mild 5-9,
# moderate 10-14, severe 15-21. Minimal (0-4) is left out: there is little to reduce.
BAND_BASELINES = {
    "phq9": {"mild": 7.0, "moderate": 12.0, "moderately severe or severe": 21.0},
    "gad7": {"mild": 7.0, "moderate": 12.0, "severe": 18.0},
}
INTERVAL_COLUMNS = ["estimate", "std_error", "ci_low", "ci_high", "ci90_low", "ci90_high"]
COLUMNS = ["band", "baseline", "method", *INTERVAL_COLUMNS, "p_beneficial", "p_value"]


def draw_summary(draws: np.ndarray) -> list[float]:
    """Mean, SD, and the 95% and 90% equal-tailed interval ends of draws (INTERVAL_COLUMNS order)."""
    x = np.ravel(draws)
    return [x.mean(), x.std(ddof=1), *np.quantile(x, [0.025, 0.975, 0.05, 0.95])]


def severity_slopes(
    draws: Mapping[str, np.ndarray], bands: Mapping[str, float], centre: float
) -> pd.DataFrame:
    """Posterior slope per band from draws of `review_percentage` and its interaction with
    `baseline_centred` (data scale, any shape, flattened). ci_* are 95% and ci90_* 90%
    equal-tailed intervals; p_beneficial = P(slope < 0)."""
    review = np.ravel(draws[REVIEW])
    interaction = np.ravel(draws[INTERACTION])
    rows = []
    for band, baseline in bands.items():
        slope = review + interaction * (baseline - centre)
        rows.append([band, baseline, "posterior", *draw_summary(slope), np.mean(slope < 0), np.nan])
    return pd.DataFrame(rows, columns=COLUMNS)


def gee_severity_slopes(result, bands: Mapping[str, float], centre: float) -> pd.DataFrame:
    """The same slopes from a fitted GEE (`gee_result`): normal intervals, delta-method variance
    Var(b_r) + d^2 Var(b_i) + 2 d Cov(b_r, b_i) with d = baseline - centre; two-sided Wald p_value."""
    params, cov = result.params, result.cov_params()
    rows = []
    for band, baseline in bands.items():
        d = baseline - centre
        estimate = params[REVIEW] + d * params[INTERACTION]
        variance = cov.loc[REVIEW, REVIEW] + d**2 * cov.loc[INTERACTION, INTERACTION]
        se = np.sqrt(variance + 2 * d * cov.loc[REVIEW, INTERACTION])
        ends = [estimate + z * se for z in stats.norm.ppf([0.025, 0.975, 0.05, 0.95])]
        p_value = 2 * stats.norm.sf(abs(estimate / se))
        rows.append([band, baseline, "GEE", estimate, se, *ends, np.nan, p_value])
    return pd.DataFrame(rows, columns=COLUMNS)


def naive_vs_corrected(
    naive: pd.DataFrame,
    corrected: pd.DataFrame,
    truth: Mapping[str, float] | None = None,
    key: str = "term",
) -> pd.DataFrame:
    """Naive and corrected estimates with their 95% intervals, one row per `key` in both tables
    (term tables from `fit_gee` / `fit_measurement_error_model`, or band tables keyed "band").
    With `truth` (key -> true value): the errors (estimate - truth) and whether each interval covers it.
    """
    cols = [key, "estimate", "ci_low", "ci_high"]
    table = naive[cols].merge(corrected[cols], on=key, suffixes=("_naive", "_corrected"))
    table.columns = [key] + [f"{side}_{c}" for side in ("naive", "corrected") for c in cols[1:]]
    if truth is not None:
        table["truth"] = table[key].map(truth)
        for side in ("naive", "corrected"):
            table[f"{side}_error"] = table[f"{side}_estimate"] - table["truth"]
            low, high = table[f"{side}_ci_low"], table[f"{side}_ci_high"]
            table[f"{side}_covers"] = (low <= table["truth"]) & (table["truth"] <= high)
    return table
