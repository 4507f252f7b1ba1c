"""Build the PyMC model from a Design, and map its internal parameters back to the data's scale.

Internal parameters (all on the standardised scale): `Intercept_std`, `b_std` (dim "term"),
`sd_std` (dim "sd_term"), `z_<k>` (unit normal per level of group effect k, non-centred; or
`r_std_<k>`, the effect itself, when centred, with `z_<k>` its deterministic),
`cor_chol_<b>` (the Cholesky factor of correlation block b's correlation matrix, its strictly lower
entries; backend/lkj.py) and the
family's parameters (families.FamilyParameter.internal: `sigma_std`, `nu`, `shape`, `phi`,
`thresholds_std` (dim "threshold") of cumulative, which has no `Intercept_std`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from . import digamma  # noqa: F401 (registers a numba digamma that can be cached, for Psi)
from .bernoulli_logit import bernoulli_logit, binomial_logit
from .lkj import cholesky_rows, correlations, lkj_cholesky, n_entries
from ..spec.families import Bernoulli, Binomial, Family, get_family
from ..spec.formula import Design
from ..spec.priors import Prior, ResolvedPriors

PYMC_DISTRIBUTIONS = {
    "normal": pm.Normal,
    "student_t": pm.StudentT,
    "halfnormal": pm.HalfNormal,
    "halfstudent_t": pm.HalfStudentT,
    "exponential": pm.Exponential,
    "gamma": pm.Gamma,
}


def make_coords(design: Design) -> dict[str, list]:
    coords = {"term": design.terms, "sd_term": [e.label for e in design.group_effects]}
    for effect in design.group_effects:
        coords[effect.factor] = effect.levels
    coords["obs"] = list(range(design.n))
    if design.correlation_blocks:
        coords["cor_term"] = [label for block in design.correlation_blocks for label in block.labels]
    if design.outcome_levels is not None:
        coords["threshold"] = [f"Intercept[{k}]" for k in range(1, len(design.outcome_levels))]
    return coords


def build_model(
    design: Design, family: str | Family, priors: ResolvedPriors, centred: Sequence[bool] = ()
) -> pm.Model:
    """Multilevel GLM; the likelihood is on the data scale (so is the log-likelihood).

    Group effects are non-centred (`z_k` unit normal, r_k = z_k * sd_k) except those flagged in
    `centred` (one flag per group effect; effects in a correlation block are always non-centred):
    those sample r_k ~ Normal(0, sd_k) as `r_std_k` and keep z_k = r_k / sd_k as a deterministic,
    so every later step reads the same variables."""
    family = get_family(family)
    centred = list(centred) or [False] * len(design.group_effects)
    if len(centred) != len(design.group_effects):
        raise ValueError(f"centred: one flag per group effect ({len(design.group_effects)}), got {len(centred)}")
    in_blocks = {k for block in design.correlation_blocks for k in block.members}
    if any(centred[k] for k in in_blocks):
        raise ValueError("effects of a correlated bar are non-centred only")
    with pm.Model(coords=make_coords(design)) as model:
        has_intercept = design.has_intercept and family.intercept_parameter
        intercept = _rv("Intercept_std", priors.intercept) if has_intercept else 0.0
        beta = _prior_vector("b_std", priors.slopes, "term") if design.terms else None
        effects = []
        if design.group_effects:
            sd = _prior_vector("sd_std", priors.sds, "sd_term")
            z, centred_effects = [], {}
            for k, effect in enumerate(design.group_effects):
                if centred[k]:
                    centred_effects[k] = pm.Normal(f"r_std_{k}", 0.0, sd[k], dims=effect.factor)
                    z.append(pm.Deterministic(f"z_{k}", centred_effects[k] / sd[k], dims=effect.factor))
                else:
                    z.append(pm.Normal(f"z_{k}", 0.0, 1.0, dims=effect.factor))
            if len(priors.cors) != len(design.correlation_blocks):
                raise ValueError("resolve_priors needs cor_groups: one LKJ prior per correlation block")
            rows = []
            for b, (block, prior) in enumerate(zip(design.correlation_blocks, priors.cors)):
                n = len(block.members)
                entries = lkj_cholesky(f"cor_chol_{b}", n, **prior.kwargs)
                rows.append(cholesky_rows([entries[k] for k in range(n_entries(n))], n))
            effects = group_effect_values(design, sd, z, rows)
            for k, values in centred_effects.items():
                effects[k] = values
        eta = linear_predictor(design, intercept, beta, effects)
        params = {
            p.internal: _rv(p.internal, priors.family[p.name], **family.pymc_parameter_options(p, design))
            for p in family.parameters
        }
        if isinstance(family, Bernoulli):  # the fused kernel replaces the family's pm.Bernoulli
            pm.CustomDist(design.outcome, eta, logp=bernoulli_logit_logp, observed=design.y, dims="obs")
        elif isinstance(family, Binomial):  # and the family's pm.Binomial
            pm.CustomDist(design.outcome, design.trials, eta, logp=binomial_logit_logp, observed=design.y, dims="obs")
        else:
            family.likelihood(design.outcome, eta, params, design)
    return model


def bernoulli_logit_logp(y, eta):
    """log Bernoulli(y | logit^-1(eta)) = y * eta - log(1 + e^eta), from the fused kernel of
    `bernoulli_logit` (value and derivative from one exponential per observation)."""
    return bernoulli_logit(y, eta)[0]


def binomial_logit_logp(y, trials, eta):
    """log Binomial(y | trials, logit^-1(eta)) = log C(trials, y) + y * eta - trials * log(1 + e^eta),
    from the fused kernel of `binomial_logit` (the constant folds at compile time: y and trials are data)."""
    choose = pt.gammaln(trials + 1) - pt.gammaln(y + 1) - pt.gammaln(trials - y + 1)
    return choose + binomial_logit(y, trials, eta)[0]


def log_likelihood(internal: xr.Dataset, design: Design, family: str | Family, block: int = 250) -> xr.Dataset:
    """The likelihood of `build_model` at every draw, (chain, draw, obs), in NumPy: what
    pm.compute_log_likelihood gives, without compiling a function and calling it once per draw.
    Works through `block` draws at a time, so temporaries stay at block x observations."""
    family = get_family(family)
    out = np.empty((internal.sizes["chain"], internal.sizes["draw"], design.n))
    for chain in range(out.shape[0]):
        for start in range(0, out.shape[1], block):
            draws = internal.isel(chain=chain, draw=slice(start, start + block)).transpose(..., "draw")
            intercept = draws["Intercept_std"].to_numpy() if "Intercept_std" in draws else 0.0
            beta = draws["b_std"].to_numpy() if design.terms else None
            sd = draws["sd_std"].to_numpy() if design.group_effects else None
            z = [draws[f"z_{k}"].to_numpy() for k in range(len(design.group_effects))]
            rows = [
                cholesky_rows(list(draws[f"cor_chol_{b}"].to_numpy()), len(block.members))
                for b, block in enumerate(design.correlation_blocks)
            ]
            effects = group_effect_values(design, sd, z, rows)
            eta = np.asarray(linear_predictor(design, intercept, beta, effects)).T  # (draw, obs)
            params = {p.internal: draws[p.internal].transpose("draw", ...).to_numpy() for p in family.parameters}
            if family.standardised_outcome:
                loglik = family.log_likelihood_internal(design.y, eta, params, design)
            else:
                loglik = family.log_likelihood(design.y, *family.data_scale(eta, params, design), design)
            out[chain, start : start + block] = loglik
    coords = {"chain": internal["chain"].values, "draw": internal["draw"].values}
    return xr.Dataset({design.outcome: (("chain", "draw", "obs"), out)}, coords=coords)


def linear_predictor(design: Design, intercept, beta, effects):
    """eta on the standardised scale; works on PyTensor tensors and on NumPy draws alike.

    Every parameter may carry a last axis of draws (intercept (draws,), beta (terms, draws),
    effects (levels, draws)); eta is then (obs, draws)."""
    eta = intercept + (design.X @ beta if beta is not None else 0.0)
    for effect, u in zip(design.group_effects, effects):
        term = u[effect.index]
        if effect.values is not None:
            term = term * (effect.values if term.ndim == 1 else effect.values[:, np.newaxis])
        eta = eta + term
    return eta


def group_effect_values(design: Design, sd, z: list, cholesky: list) -> list:
    """Group effects r_k on the standardised scale from sd[k], the unit normals z[k] and, per
    correlation block, the rows of its correlation's Cholesky factor L (`lkj.cholesky_rows`):
    r_k = z_k * sd_k alone, or r = z (diag(sd) L)^T inside a block, r_i = sd_i * sum_j L[i][j] z_j.
    Works on PyTensor tensors and on NumPy or xarray draws alike (any draw axes last, or absent)."""
    effects = [z_k * sd[k] for k, z_k in enumerate(z)]
    for block, rows in zip(design.correlation_blocks, cholesky):
        for i, k in enumerate(block.members[1:], start=1):
            combined = rows[i][0] * z[block.members[0]]
            for j in range(1, i + 1):
                combined = combined + rows[i][j] * z[block.members[j]]
            effects[k] = combined * sd[k]
    return effects


def _rv(name: str, prior: Prior, **kwargs):
    return PYMC_DISTRIBUTIONS[prior.dist](name, **prior.kwargs, **kwargs)


def _prior_vector(name: str, priors: list[Prior], dim: str):
    """A vector parameter with one prior per element: one random variable per distinct prior."""
    distinct = list(dict.fromkeys(priors))
    if len(distinct) == 1:
        return _rv(name, distinct[0], dims=dim)
    parts, order = [], []
    for k, prior in enumerate(distinct):
        members = [i for i, p in enumerate(priors) if p == prior]
        parts.append(_rv(f"{name}_{k}", prior, shape=len(members)))
        order += members
    return pm.Deterministic(name, pt.concatenate(parts)[np.argsort(order)], dims=dim)


def to_data_scale(
    internal: xr.Dataset, design: Design, family: str | Family, keep_group_effects: bool
) -> xr.Dataset:
    """Posterior on the data's own scale: Intercept, b[term], sd[sd_term], cor[cor_term] (the
    correlations of each correlated bar; scale-free, so as sampled), the family's parameters
    (sigma, nu, shape, phi), r_<factor>[...].

    With X_j standardised as (x_j - m_j) / s_j and a gaussian outcome as y = c + s_y * eta:
    b_j = s_y * b_std_j / s_j, Intercept = c + s_y * (Intercept_std - sum_j b_std_j * m_j / s_j).
    Cumulative thresholds move the other way: Intercept[k] = thresholds_std[k] + sum_j b_std_j * m_j / s_j
    (P(y <= k) = logistic(Intercept[k] - eta) on both scales).
    """
    family = get_family(family)
    ys, out = design.y_scale, {}
    if design.terms:
        b_std = internal["b_std"]
        out["b"] = ys * b_std / xr.DataArray(design.scale, dims="term")
    shift = (
        (b_std * xr.DataArray(design.center / design.scale, dims="term")).sum("term")
        if design.terms and design.has_intercept
        else 0.0
    )
    if "Intercept_std" in internal:
        out["Intercept"] = design.y_center + ys * (internal["Intercept_std"] - shift)
    if "thresholds_std" in internal:
        out["Intercept"] = internal["thresholds_std"] + shift
    if design.group_effects:
        slope_scale = xr.DataArray([e.scale for e in design.group_effects], dims="sd_term")
        out["sd"] = ys * internal["sd_std"] / slope_scale
    rows = [
        cholesky_rows(_entries(internal[f"cor_chol_{b}"]), len(block.members))
        for b, block in enumerate(design.correlation_blocks)
    ]
    if rows:
        labels = [label for block in design.correlation_blocks for label in block.labels]
        values = [value for block_rows in rows for value in correlations(block_rows)]
        out["cor"] = xr.concat(values, dim="cor_term").transpose(..., "cor_term").assign_coords(cor_term=labels)
    if keep_group_effects:
        sd = [out["sd"].isel(sd_term=k, drop=True) for k in range(len(design.group_effects))]
        z = [internal[f"z_{k}"] for k in range(len(design.group_effects))]
        for effect, value in zip(design.group_effects, group_effect_values(design, sd, z, rows)):
            out[effect.effect_name] = value
    for p in family.parameters:
        if p.internal != "thresholds_std":
            out[p.name] = ys * internal[p.internal] if p.outcome_scale else internal[p.internal]
    return xr.Dataset(out, attrs=internal.attrs)


def _entries(draws: xr.DataArray) -> list[xr.DataArray]:
    """A Cholesky factor's strictly lower entries from draws (chain, draw, entry), one array each."""
    (entry_dim,) = (d for d in draws.dims if d not in ("chain", "draw"))
    return [draws.isel({entry_dim: k}, drop=True) for k in range(draws.sizes[entry_dim])]
