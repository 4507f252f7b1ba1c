"""Build the PyMC model from a Design, and map its internal parameters back to the data's scale.

Internal parameters (all on the standardised scale): `Intercept_std`, `b_std` (dim "term"),
`sd_std` (dim "sd_term"), `z_<k>` (unit normal per level of group effect k, non-centred) and, for
the gaussian family, `sigma_std`.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from .bernoulli_logit import bernoulli_logit
from ..spec.formula import Design
from ..spec.priors import Prior, ResolvedPriors

PYMC_DISTRIBUTIONS = {
    "normal": pm.Normal,
    "student_t": pm.StudentT,
    "halfnormal": pm.HalfNormal,
    "halfstudent_t": pm.HalfStudentT,
    "exponential": pm.Exponential,
}


def make_coords(design: Design) -> dict[str, list]:
    coords = {"term": design.terms, "sd_term": [e.label for e in design.group_effects]}
    for effect in design.group_effects:
        coords[effect.factor] = effect.levels
    coords["obs"] = list(range(design.n))
    return coords


def build_model(design: Design, family: str, priors: ResolvedPriors) -> pm.Model:
    """Non-centred multilevel GLM; the likelihood is on the data scale (so is the log-likelihood)."""
    with pm.Model(coords=make_coords(design)) as model:
        intercept = _rv("Intercept_std", priors.intercept) if design.has_intercept else 0.0
        beta = _prior_vector("b_std", priors.slopes, "term") if design.terms else None
        effects = []
        if design.group_effects:
            sd = _prior_vector("sd_std", priors.sds, "sd_term")
            for k, effect in enumerate(design.group_effects):
                effects.append(pm.Normal(f"z_{k}", 0.0, 1.0, dims=effect.factor) * sd[k])
        eta = linear_predictor(design, intercept, beta, effects)
        if family == "bernoulli":
            pm.CustomDist(design.outcome, eta, logp=bernoulli_logit_logp, observed=design.y, dims="obs")
        else:
            sigma = _rv("sigma_std", priors.sigma)
            pm.Normal(
                design.outcome,
                mu=design.y_center + design.y_scale * eta,
                sigma=design.y_scale * sigma,
                observed=design.y,
                dims="obs",
            )
    return model


def bernoulli_logit_logp(y, eta):
    """log Bernoulli(y | logit^-1(eta)) = y * eta - log(1 + e^eta), from the fused kernel of
    `bernoulli_logit` (value and derivative from one exponential per observation)."""
    return bernoulli_logit(y, eta)[0]


def log_likelihood(internal: xr.Dataset, design: Design, family: str, block: int = 250) -> xr.Dataset:
    """The likelihood of `build_model` at every draw, (chain, draw, obs), in NumPy: what
    pm.compute_log_likelihood gives, without compiling a function and calling it once per draw.
    Works through `block` draws at a time, so temporaries stay at block x observations."""
    out = np.empty((internal.sizes["chain"], internal.sizes["draw"], design.n))
    for chain in range(out.shape[0]):
        for start in range(0, out.shape[1], block):
            draws = internal.isel(chain=chain, draw=slice(start, start + block)).transpose(..., "draw")
            intercept = draws["Intercept_std"].to_numpy() if design.has_intercept else 0.0
            beta = draws["b_std"].to_numpy() if design.terms else None
            sd = draws["sd_std"].to_numpy() if design.group_effects else None
            effects = [draws[f"z_{k}"].to_numpy() * sd[k] for k in range(len(design.group_effects))]
            eta = np.asarray(linear_predictor(design, intercept, beta, effects)).T  # (draw, obs)
            if family == "bernoulli":
                loglik = design.y * eta - np.logaddexp(0.0, eta)
            else:
                sigma = design.y_scale * draws["sigma_std"].to_numpy()[:, np.newaxis]
                residual = (design.y - design.y_center - design.y_scale * eta) / sigma
                loglik = -0.5 * residual**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
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


def to_data_scale(internal: xr.Dataset, design: Design, family: str, keep_group_effects: bool) -> xr.Dataset:
    """Posterior on the data's own scale: Intercept, b[term], sd[sd_term], sigma, r_<factor>[...].

    With X_j standardised as (x_j - m_j) / s_j and a gaussian outcome as y = c + s_y * eta:
    b_j = s_y * b_std_j / s_j, Intercept = c + s_y * (Intercept_std - sum_j b_std_j * m_j / s_j).
    """
    ys, out = design.y_scale, {}
    if design.terms:
        b_std = internal["b_std"]
        out["b"] = ys * b_std / xr.DataArray(design.scale, dims="term")
    if design.has_intercept:
        shift = (
            (b_std * xr.DataArray(design.center / design.scale, dims="term")).sum("term")
            if design.terms
            else 0.0
        )
        out["Intercept"] = design.y_center + ys * (internal["Intercept_std"] - shift)
    if design.group_effects:
        slope_scale = xr.DataArray([e.scale for e in design.group_effects], dims="sd_term")
        out["sd"] = ys * internal["sd_std"] / slope_scale
    if keep_group_effects:
        for k, effect in enumerate(design.group_effects):
            out[effect.effect_name] = internal[f"z_{k}"] * out["sd"].isel(sd_term=k, drop=True)
    if family == "gaussian":
        out["sigma"] = ys * internal["sigma_std"]
    return xr.Dataset(out, attrs=internal.attrs)
