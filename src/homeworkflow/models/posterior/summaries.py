"""Tables and diagnostics computed from a fitted posterior (all on the data's scale)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit
from scipy.stats import norm

from . import convergence
from ..backend.build import linear_predictor
from ..spec.formula import Design
from ..spec.model import Gate

SAMPLE_DIMS = ("chain", "draw")
LOGISTIC_RESIDUAL_VARIANCE = np.pi**2 / 3
PPC_MAX_DRAWS = 1000


def term_draws(posterior: xr.Dataset) -> xr.Dataset:
    """One variable per reported term (Intercept, each b, each sd, sigma), named as in summary.csv."""
    out = {}
    if "Intercept" in posterior:
        out["Intercept"] = posterior["Intercept"]
    for var, dim in (("b", "term"), ("sd", "sd_term")):
        if var in posterior:
            out.update({str(t): posterior[var].sel({dim: t}, drop=True) for t in posterior[dim].values})
    if "sigma" in posterior:
        out["sigma"] = posterior["sigma"]
    return xr.Dataset(out)


def _interval_rows(draws: xr.Dataset, prefix: str = "") -> list[dict]:
    quantiles = draws.quantile([0.025, 0.975], dim=SAMPLE_DIMS)
    return [
        {
            f"{prefix}mean": float(draws[name].mean()),
            f"{prefix}q2.5": float(quantiles[name][0]),
            f"{prefix}q97.5": float(quantiles[name][1]),
        }
        for name in draws.data_vars
    ]


def summary_table(posterior: xr.Dataset) -> pd.DataFrame:
    draws = term_draws(posterior)
    stacked = stack_parameters(draws)
    rhat, ess_bulk, ess_tail = (dict(zip(draws.data_vars, stat)) for stat in convergence.diagnose(stacked))
    rows = []
    for name, interval in zip(draws.data_vars, _interval_rows(draws)):
        rows.append(
            {
                "term": name,
                "mean": interval["mean"],
                "sd": float(draws[name].std(ddof=1)),
                "q2.5": interval["q2.5"],
                "q97.5": interval["q97.5"],
                "ess_bulk": float(ess_bulk[name]),
                "ess_tail": float(ess_tail[name]),
                "r_hat": float(rhat[name]),
            }
        )
    return pd.DataFrame(
        rows, columns=["term", "mean", "sd", "q2.5", "q97.5", "ess_bulk", "ess_tail", "r_hat"]
    )


def odds_ratio_table(posterior: xr.Dataset) -> pd.DataFrame:
    """Posterior mean and 95% interval of exp(b) per population-level term (not the intercept)."""
    columns = ["term", "or_mean", "or_q2.5", "or_q97.5", "prob_or_gt_1"]
    if "b" not in posterior:
        return pd.DataFrame(columns=columns)
    b = posterior["b"]
    odds_ratios = xr.Dataset({str(t): np.exp(b.sel(term=t, drop=True)) for t in b["term"].values})
    rows = [
        {"term": name, **interval, "prob_or_gt_1": float((b.sel(term=name) > 0).mean())}
        for name, interval in zip(odds_ratios.data_vars, _interval_rows(odds_ratios, prefix="or_"))
    ]
    return pd.DataFrame(rows, columns=columns)


def variance_partition_table(posterior: xr.Dataset, design: Design, family: str) -> pd.DataFrame:
    """Per grouping factor: share of the (latent) variance (icc) and, for logistic models, the median odds ratio.

    Only group intercepts enter; the residual variance is pi^2/3 (logistic, latent scale) or sigma^2.
    """
    factors = [e.factor for e in design.group_effects if e.column is None]
    labels = [e.label for e in design.group_effects if e.column is None]
    columns = ["group", "measure", "mean", "q2.5", "q97.5"]
    if not factors:
        return pd.DataFrame(columns=columns)
    variances = posterior["sd"].sel(sd_term=labels) ** 2
    residual = LOGISTIC_RESIDUAL_VARIANCE if family == "bernoulli" else posterior["sigma"] ** 2
    total = variances.sum("sd_term") + residual
    measures = {}
    for factor, label in zip(factors, labels):
        variance = variances.sel(sd_term=label, drop=True)
        measures[(factor, "icc")] = variance / total
        if family == "bernoulli":
            measures[(factor, "median_odds_ratio")] = np.exp(np.sqrt(2 * variance) * norm.ppf(0.75))
    draws = xr.Dataset({f"{f}|{m}": v for (f, m), v in measures.items()})
    rows = [
        {"group": factor, "measure": measure, **interval}
        for (factor, measure), interval in zip(measures, _interval_rows(draws))
    ]
    return pd.DataFrame(rows, columns=columns)


def ppc_table(internal: xr.Dataset, design: Design, family: str, seed: int) -> pd.DataFrame:
    """Observed vs replicated outcome mean, overall and per level of each categorical predictor.

    Replicates come from at most PPC_MAX_DRAWS evenly spaced posterior draws, one draw at a time,
    so memory stays at one outcome vector whatever the data size.
    """
    rng = np.random.default_rng(seed)
    draws = _thinned_internal_draws(internal, design)
    n_draws = len(draws["intercept"])
    groupings = [("overall", np.array(["all"]), np.zeros(design.n, dtype=int))]
    for column, values in design.categorical.items():
        groupings.append((column, *np.unique(values, return_inverse=True)))
    counts = [np.bincount(codes, minlength=len(levels)) for _, levels, codes in groupings]
    replicated = [np.empty((n_draws, len(levels))) for _, levels, _ in groupings]
    for s in range(n_draws):
        effects = [z[s] * draws["sd"][s, k] for k, z in enumerate(draws["z"])]
        beta = None if draws["beta"] is None else draws["beta"][s]
        eta = linear_predictor(design, draws["intercept"][s], beta, effects)
        if family == "bernoulli":
            y_rep = (rng.random(design.n) < expit(eta)).astype(float)
        else:
            y_rep = design.y_center + design.y_scale * (
                eta + draws["sigma"][s] * rng.standard_normal(design.n)
            )
        for means, (_, levels, codes), count in zip(replicated, groupings, counts):
            means[s] = np.bincount(codes, weights=y_rep, minlength=len(levels)) / count
    rows = []
    for (variable, levels, codes), means, count in zip(groupings, replicated, counts):
        observed = np.bincount(codes, weights=design.y, minlength=len(levels)) / count
        for j, level in enumerate(levels):
            rows.append(
                {
                    "variable": variable,
                    "level": str(level),
                    "observed_mean": observed[j],
                    "replicated_mean": means[:, j].mean(),
                    "replicated_q2.5": np.quantile(means[:, j], 0.025),
                    "replicated_q97.5": np.quantile(means[:, j], 0.975),
                }
            )
    return pd.DataFrame(rows)


def _thinned_internal_draws(internal: xr.Dataset, design: Design) -> dict:
    """Internal parameters at up to PPC_MAX_DRAWS evenly spaced draws, as arrays with the draw first."""
    n_draw = internal.sizes["draw"]
    total = internal.sizes["chain"] * n_draw
    chain, draw = np.divmod(
        np.unique(np.linspace(0, total - 1, min(total, PPC_MAX_DRAWS)).astype(int)), n_draw
    )
    thinned = internal.isel(chain=xr.DataArray(chain, dims="sample"), draw=xr.DataArray(draw, dims="sample"))

    def values(name):
        return thinned[name].transpose("sample", ...).to_numpy()

    return {
        "intercept": values("Intercept_std") if design.has_intercept else np.zeros(len(chain)),
        "beta": values("b_std") if design.terms else None,
        "sd": values("sd_std") if design.group_effects else None,
        "z": [values(f"z_{k}") for k in range(len(design.group_effects))],
        "sigma": values("sigma_std") if "sigma_std" in thinned else None,
    }


def diagnostics(sample_stats: xr.Dataset, posterior: xr.Dataset, gate: Gate, workers: int = 1) -> dict:
    """Convergence diagnostics over every saved parameter (on `workers` threads), and whether they
    pass the gate."""
    stacked = stack_parameters(posterior)
    rhat, ess_bulk, ess_tail = convergence.diagnose(stacked, workers)
    result = {
        "divergences": int(sample_stats["diverging"].sum()),
        "max_rhat": float(np.nanmax(rhat)),
        "min_ess_bulk": float(np.nanmin(ess_bulk)),
        "min_ess_tail": float(np.nanmin(ess_tail)),
        "bfmi": _bfmi(sample_stats),
        "n_gradient_evals": int(sample_stats["n_steps"].sum()) if "n_steps" in sample_stats else None,
        "gate": dataclasses.asdict(gate),
    }
    result["gate_failures"] = gate_failures(result, gate)
    result["gate_passed"] = not result["gate_failures"]
    return result


def _bfmi(sample_stats: xr.Dataset) -> list[float] | None:
    if "energy" not in sample_stats:
        return None
    return [float(v) for v in convergence.bfmi(sample_stats["energy"].transpose(*SAMPLE_DIMS).to_numpy())]


def stack_parameters(posterior: xr.Dataset) -> np.ndarray:
    """Every scalar of every variable as one (chain, draw, parameter) array."""
    arrays = [
        var.transpose(*SAMPLE_DIMS, ...).to_numpy().reshape(var.sizes["chain"], var.sizes["draw"], -1)
        for var in posterior.data_vars.values()
    ]
    return np.concatenate(arrays, axis=2)


def gate_failures(diag: dict, gate: Gate) -> list[str]:
    failures = []
    if not diag["max_rhat"] <= gate.max_rhat:
        failures.append(f"max R-hat {diag['max_rhat']:.3f} > {gate.max_rhat}")
    for kind in ("bulk", "tail"):
        if not diag[f"min_ess_{kind}"] >= gate.min_ess:
            failures.append(f"min {kind} ESS {diag[f'min_ess_{kind}']:.0f} < {gate.min_ess}")
    if diag["divergences"] > gate.max_divergences:
        failures.append(f"{diag['divergences']} divergent transitions > {gate.max_divergences}")
    return failures
