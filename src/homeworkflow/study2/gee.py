"""The published analysis: GEE of score change on review percentage x centred baseline."""

from __future__ import annotations

import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.genmod.generalized_estimating_equations import GEEResultsWrapper

GEE_METHOD = "GEE (exchangeable, clustered by client)"
DEFAULT_FORMULA = "change ~ review_percentage * baseline_centred"


def gee_result(intervals: pd.DataFrame, formula: str = DEFAULT_FORMULA) -> GEEResultsWrapper:
    """Gaussian GEE, exchangeable working correlation within client, robust (sandwich) errors.

    Rows with a missing value in the formula's columns or in client_id are dropped.
    """
    data = intervals.dropna(subset=["client_id"])
    model = smf.gee(
        formula,
        groups="client_id",
        data=data,
        cov_struct=sm.cov_struct.Exchangeable(),
        family=sm.families.Gaussian(),
        missing="drop",
    )
    return model.fit()


def gee_table(result: GEEResultsWrapper) -> pd.DataFrame:
    """One row per term: estimate, robust std_error, 95% Wald interval, two-sided p_value, method."""
    ci = result.conf_int(alpha=0.05)
    return pd.DataFrame(
        {
            "term": result.params.index,
            "estimate": result.params.to_numpy(),
            "std_error": result.bse.to_numpy(),
            "ci_low": ci[0].to_numpy(),
            "ci_high": ci[1].to_numpy(),
            "p_value": result.pvalues.to_numpy(),
            "method": GEE_METHOD,
        }
    )


def fit_gee(intervals: pd.DataFrame, formula: str = DEFAULT_FORMULA) -> pd.DataFrame:
    """`gee_table(gee_result(intervals, formula))`."""
    return gee_table(gee_result(intervals, formula))
