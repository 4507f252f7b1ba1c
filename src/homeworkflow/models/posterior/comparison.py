"""Model comparison by PSIS-LOO (ArviZ): models fitted to the same rows and outcome."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from ..errors import ModelSpecError

PARETO_K_LIMIT = 0.7
COLUMNS = [
    "model",
    "rank",
    "elpd_loo",
    "se",
    "elpd_diff",
    "dse",
    "p_loo",
    "weight",
    "n_pareto_k_above_0.7",
    "n_obs",
]


def check_comparable(fits: dict[str, az.InferenceData]) -> str:
    """The outcome the models share; ModelSpecError unless every model saved its log-likelihood
    and was fitted to the same outcome with the same observed values, row by row."""
    if len(fits) < 2:
        raise ModelSpecError(f"a comparison needs at least two models, got {list(fits)}")
    outcomes = {}
    for name, idata in fits.items():
        if "log_likelihood" not in idata.groups():
            raise ModelSpecError(
                f"model '{name}' has no log-likelihood in its posterior: set save_log_likelihood: true"
            )
        outcomes[name] = list(idata.observed_data.data_vars)
    first, *others = fits
    for name in others:
        if outcomes[name] != outcomes[first]:
            raise ModelSpecError(
                f"models '{first}' and '{name}' have different outcomes "
                f"({outcomes[first]} and {outcomes[name]}): LOO compares models of the same outcome"
            )
        outcome = outcomes[first][0]
        y_first = fits[first].observed_data[outcome].to_numpy()
        y_other = fits[name].observed_data[outcome].to_numpy()
        if y_first.shape != y_other.shape:
            raise ModelSpecError(
                f"models '{first}' and '{name}' were fitted to different rows "
                f"({y_first.size} and {y_other.size} observations)"
            )
        differ = np.flatnonzero(y_first != y_other)
        if differ.size:
            rows = ", ".join(str(i + 1) for i in differ[:5])
            raise ModelSpecError(
                f"models '{first}' and '{name}' were fitted to different rows: outcome "
                f"'{outcome}' differs in {differ.size} row(s) (data rows {rows})"
            )
    return outcomes[first][0]


def compare_models(fits: dict[str, az.InferenceData]) -> pd.DataFrame:
    """One row per model, best first: ArviZ's PSIS-LOO comparison (stacking weights) with the
    number of observations whose Pareto k exceeds 0.7 (their LOO estimate is unreliable)."""
    outcome = check_comparable(fits)
    loo = {name: az.loo(idata, pointwise=True, var_name=outcome) for name, idata in fits.items()}
    table = az.compare(loo, ic="loo", method="stacking").rename_axis("model").reset_index()
    table["n_pareto_k_above_0.7"] = [int((loo[m].pareto_k > PARETO_K_LIMIT).sum()) for m in table["model"]]
    table["n_obs"] = [int(loo[m].n_data_points) for m in table["model"]]
    return table[COLUMNS]
