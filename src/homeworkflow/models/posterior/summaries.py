"""Tables and diagnostics computed from a fitted posterior (all on the data's scale)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from . import convergence
from ..backend.build import group_effect_values, linear_predictor
from ..backend.lkj import cholesky_rows
from ..spec.families import FAMILY_PARAMETER_NAMES, Family, get_family
from ..spec.formula import Design
from ..spec.model import Gate

SAMPLE_DIMS = ("chain", "draw")
PPC_MAX_DRAWS = 1000
# effect-table scale -> (column prefix, what the ratio is called)
RATIO_SCALES = {"odds_ratio": ("or_", "odds ratio"), "rate_ratio": ("rr_", "rate ratio")}


def term_draws(posterior: xr.Dataset) -> xr.Dataset:
    """One variable per reported term (Intercept or the thresholds Intercept[k], each b, each sd,
    each correlation cor(g)[a,b], the family's parameters sigma, nu, shape, phi), named as in summary.csv."""
    out = {}
    if "Intercept" in posterior:
        if "threshold" in posterior["Intercept"].dims:
            out.update({str(t): posterior["Intercept"].sel(threshold=t, drop=True) for t in posterior["threshold"].values})
        else:
            out["Intercept"] = posterior["Intercept"]
    for var, dim in (("b", "term"), ("sd", "sd_term"), ("cor", "cor_term")):
        if var in posterior:
            out.update({str(t): posterior[var].sel({dim: t}, drop=True) for t in posterior[dim].values})
    out.update({name: posterior[name] for name in FAMILY_PARAMETER_NAMES if name in posterior})
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
    return _ratio_table(posterior, "or_")


def effect_table(posterior: xr.Dataset, family: str | Family) -> pd.DataFrame:
    """The population-level effects on the family's ratio scale: odds ratios (logit families) or
    rate ratios (log families), with P(ratio > 1); for a family without one (identity link), one
    row saying so (its coefficients in summary.csv are differences in the outcome)."""
    family = get_family(family)
    if family.ratio is None:
        note = (
            f"family {family.name} ({family.link} link) has no ratio scale: its coefficients in "
            "summary.csv are differences in the outcome"
        )
        return pd.DataFrame([{"term": "", "note": note}], columns=["term", "note"])
    return _ratio_table(posterior, RATIO_SCALES[family.ratio][0])


def _ratio_table(posterior: xr.Dataset, prefix: str) -> pd.DataFrame:
    name = prefix.rstrip("_")
    columns = ["term", f"{name}_mean", f"{name}_q2.5", f"{name}_q97.5", f"prob_{name}_gt_1"]
    if "b" not in posterior:
        return pd.DataFrame(columns=columns)
    b = posterior["b"]
    ratios = xr.Dataset({str(t): np.exp(b.sel(term=t, drop=True)) for t in b["term"].values})
    rows = [
        {"term": term, **interval, f"prob_{name}_gt_1": float((b.sel(term=term) > 0).mean())}
        for term, interval in zip(ratios.data_vars, _interval_rows(ratios, prefix=prefix))
    ]
    return pd.DataFrame(rows, columns=columns)


def variance_partition_table(posterior: xr.Dataset, design: Design, family: str | Family) -> pd.DataFrame:
    """Per grouping factor: share of the (latent) variance (icc) where the family defines a residual
    variance, and the median odds ratio (logit families) or median rate ratio (log families).

    Only group intercepts enter; the residual variance is pi^2/3 (logistic, latent scale) or sigma^2
    (gaussian). None is defined for student (infinite for nu <= 2), poisson, negbinomial and beta
    (it depends on the mean): no icc rows for them.
    """
    family = get_family(family)
    factors = [e.factor for e in design.group_effects if e.column is None]
    labels = [e.label for e in design.group_effects if e.column is None]
    columns = ["group", "measure", "mean", "q2.5", "q97.5"]
    if not factors:
        return pd.DataFrame(columns=columns)
    variances = posterior["sd"].sel(sd_term=labels) ** 2
    residual = family.latent_residual_variance(posterior)
    measures = {}
    for factor, label in zip(factors, labels):
        variance = variances.sel(sd_term=label, drop=True)
        if residual is not None:
            measures[(factor, "icc")] = variance / (variances.sum("sd_term") + residual)
        if family.ratio is not None:
            measures[(factor, f"median_{family.ratio}")] = np.exp(np.sqrt(2 * variance) * norm.ppf(0.75))
    if not measures:
        return pd.DataFrame(columns=columns)
    draws = xr.Dataset({f"{f}|{m}": v for (f, m), v in measures.items()})
    rows = [
        {"group": factor, "measure": measure, **interval}
        for (factor, measure), interval in zip(measures, _interval_rows(draws))
    ]
    return pd.DataFrame(rows, columns=columns)


def ppc_table(internal: xr.Dataset, design: Design, family: str | Family, seed: int) -> pd.DataFrame:
    """Observed vs replicated statistics of the outcome, overall and per level of each categorical
    predictor: the mean (bernoulli, gaussian: columns observed_mean, replicated_*), else one row per
    statistic of the family (column `statistic`; counts: mean, variance, share_zero; cumulative:
    share per category; binomial and beta: mean_proportion; student: mean, sd).

    Replicates come from at most PPC_MAX_DRAWS evenly spaced posterior draws, one draw at a time,
    so memory stays at one outcome vector whatever the data size.
    """
    family = get_family(family)
    rng = np.random.default_rng(seed)
    draws = _thinned_internal_draws(internal, design, family)
    n_draws = len(draws["intercept"])
    groupings = [("overall", np.array(["all"]), np.zeros(design.n, dtype=int))]
    for column, values in design.categorical.items():
        groupings.append((column, *np.unique(values, return_inverse=True)))
    counts = [np.bincount(codes, minlength=len(levels)) for _, levels, codes in groupings]
    replicated = [{} for _ in groupings]
    for s in range(n_draws):
        sd = None if draws["sd"] is None else draws["sd"][s]
        cholesky = [cholesky_rows(list(entries[s]), len(block.members)) for entries, block in draws["cor"]]
        effects = group_effect_values(design, sd, [z[s] for z in draws["z"]], cholesky)
        beta = None if draws["beta"] is None else draws["beta"][s]
        eta = linear_predictor(design, draws["intercept"][s], beta, effects)
        y_rep = family.simulate_internal(eta, {k: v[s] for k, v in draws["family"].items()}, rng, design)
        for stats, (_, levels, codes), count in zip(replicated, groupings, counts):
            for name, values in family.ppc_statistics(y_rep, codes, count, len(levels), design).items():
                stats.setdefault(name, np.empty((n_draws, len(levels))))[s] = values
    rows = []
    for (variable, levels, codes), stats, count in zip(groupings, replicated, counts):
        observed = family.ppc_statistics(design.y, codes, count, len(levels), design)
        for j, level in enumerate(levels):
            for name, values in stats.items():
                row = {"variable": variable, "level": str(level)}
                if family.legacy_ppc:  # the mean only, as bernoulli and gaussian always had
                    row["observed_mean"] = observed[name][j]
                else:
                    row.update(statistic=name, observed=observed[name][j])
                rows.append(
                    {
                        **row,
                        "replicated_mean": values[:, j].mean(),
                        "replicated_q2.5": np.quantile(values[:, j], 0.025),
                        "replicated_q97.5": np.quantile(values[:, j], 0.975),
                    }
                )
    return pd.DataFrame(rows)


def _thinned_internal_draws(internal: xr.Dataset, design: Design, family: Family) -> dict:
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
        "intercept": values("Intercept_std") if "Intercept_std" in thinned else np.zeros(len(chain)),
        "beta": values("b_std") if design.terms else None,
        "sd": values("sd_std") if design.group_effects else None,
        "z": [values(f"z_{k}") for k in range(len(design.group_effects))],
        "cor": [(values(f"cor_chol_{b}"), block) for b, block in enumerate(design.correlation_blocks)],
        "family": {p.internal: values(p.internal) for p in family.parameters},
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
