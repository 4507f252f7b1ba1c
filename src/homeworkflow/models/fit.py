"""fit_model: check the data, build and sample the model, and summarise the posterior; and the
prior predictive check of the same model."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .backend.build import build_model, log_likelihood, to_data_scale
from .backend.kernel import pack
from .backend.geometry import Geometry, choose_geometry
from .backend.sampling import run_sampler
from .errors import ConvergenceError
from .posterior.summaries import diagnostics, effect_table, ppc_table, summary_table, variance_partition_table
from .spec.families import Family, get_family
from .spec.formula import Design, build_design
from .spec.model import ModelSpec
from .spec.priors import ResolvedPriors, resolve_priors

log = logging.getLogger(__name__)

PRIOR_DRAWS = 500  # draws of the prior predictive check


@dataclass
class FitResult:
    """A fitted model: the posterior (data scale, with log-likelihood) and every derived table."""

    spec: ModelSpec
    idata: az.InferenceData
    summary: pd.DataFrame
    odds_ratios: pd.DataFrame | None  # the family's effect table (odds or rate ratios); None without a ratio scale
    variance_partition: pd.DataFrame
    ppc: pd.DataFrame
    diagnostics: dict


def fit_model(data: pd.DataFrame, spec: ModelSpec, threads: int = 1) -> FitResult:
    """Fit `spec` to `data`. While only R-hat or ESS miss the gate, up to `gate.extend` rounds of
    `chains` more chains (the next seeds) are sampled and pooled with the first. Raises
    ModelSpecError before sampling when the data cannot support a term, and ConvergenceError after
    sampling when the gate fails and gate.on_fail == "error"."""
    start = time.perf_counter()
    family, design, priors, geometry, build = _prepared(data, spec)
    spec = dataclasses.replace(spec, mass_matrix=geometry.mass_matrix)
    model = build()
    packed = pack(model, design, family, priors) if spec.sampler == "nutpie" else None
    design_s = time.perf_counter() - start
    sampled, timings = run_sampler(model, spec, threads, packed)
    timings = {"design_s": design_s, **timings}

    post_start = time.perf_counter()
    posterior = to_data_scale(sampled.posterior, design, family, keep_group_effects=spec.save_group_effects)
    diag = diagnostics(sampled.sample_stats, posterior, spec.gate, workers=threads)
    extensions = []
    while _extendable(diag, spec.gate) and len(extensions) < spec.gate.extend:
        chains = sampled.posterior.sizes["chain"]
        extensions.append(f"{'; '.join(diag['gate_failures'])} after {chains} chains")
        log.info("%s: %s; sampling %d more chains", spec.name, extensions[-1], spec.chains)
        more, more_timings = run_sampler(model, dataclasses.replace(spec, seed=spec.seed + len(extensions)), threads, packed)
        for key, seconds in more_timings.items():
            timings[key] += seconds
        post_start += more_timings["sampler_total_s"]
        sampled = _pooled(sampled, more)
        posterior = to_data_scale(sampled.posterior, design, family, keep_group_effects=spec.save_group_effects)
        diag = diagnostics(sampled.sample_stats, posterior, spec.gate, workers=threads)
    diag["extensions"] = extensions
    loglik = (
        {"log_likelihood": log_likelihood(sampled.posterior, design, family)}
        if spec.save_log_likelihood
        else {}
    )
    ppc = ppc_table(sampled.posterior, design, family, spec.seed)
    idata = az.InferenceData(
        posterior=posterior,
        **loglik,
        sample_stats=sampled.sample_stats,
        observed_data=xr.Dataset({design.outcome: ("obs", design.y)}),
    )
    result = FitResult(
        spec=spec,
        idata=idata,
        summary=summary_table(posterior),
        odds_ratios=effect_table(posterior, family) if family.ratio else None,
        variance_partition=variance_partition_table(posterior, design, family),
        ppc=ppc,
        diagnostics=diag,
    )
    timings["postprocess_s"] = time.perf_counter() - post_start
    timings["total_s"] = time.perf_counter() - start
    diag.update(_run_info(spec, design, threads), chains=int(posterior.sizes["chain"]), **timings)
    diag["centring"] = {
        e.label: "centred" if centred else "non_centred" for e, centred in zip(design.group_effects, geometry.centred)
    }
    diag["geometry_reasons"] = {
        key: why for key, why in geometry.reasons.items() if key != "mass_matrix" or spec.sampler == "nutpie"
    }
    if diag["n_gradient_evals"]:
        diag["gradients_per_min_ess"] = diag["n_gradient_evals"] / diag["min_ess_bulk"]
    _apply_gate(result)
    return result


def _extendable(diag: dict, gate) -> bool:
    """Whether more chains can mend the gate: it failed, but not on divergences."""
    return not diag["gate_passed"] and diag["divergences"] <= gate.max_divergences


def _pooled(first: az.InferenceData, more: az.InferenceData) -> az.InferenceData:
    """The posterior and sample stats of `first` with the chains of `more` after its own."""
    offset = first.posterior.sizes["chain"]
    groups = {}
    for group in ("posterior", "sample_stats"):
        extra = more[group].assign_coords(chain=more[group]["chain"].to_numpy() + offset)
        groups[group] = xr.concat([first[group], extra], dim="chain")
    return az.InferenceData(**groups)


def _prepared(data: pd.DataFrame, spec: ModelSpec) -> tuple[Family, Design, ResolvedPriors, Geometry, Callable[[], pm.Model]]:
    """The family, the checked design, its priors, the geometry chosen for it, and the model's builder."""
    family, design, priors = model_inputs(data, spec)
    geometry = choose_geometry(design, spec.centring, spec.mass_matrix, spec.sampler)
    return family, design, priors, geometry, functools.partial(build_model, design, family, priors, geometry.centred)


def model_inputs(data: pd.DataFrame, spec: ModelSpec) -> tuple[Family, Design, ResolvedPriors]:
    """The family, the checked design and the priors resolved for its terms: what the builder needs."""
    family = get_family(spec.family)
    design = build_design(data, spec.formula, family, spec.reference_levels, spec.outcome_levels)
    priors = resolve_priors(
        family,
        spec.priors,
        design.terms,
        [e.label for e in design.group_effects],
        [block.factor for block in design.correlation_blocks],
    )
    return family, design, priors


def prior_predictive_check(data: pd.DataFrame, spec: ModelSpec, draws: int = PRIOR_DRAWS) -> pd.DataFrame:
    """The posterior predictive check's statistics (ppc_table) from `draws` draws of the prior."""
    family, design, priors = model_inputs(data, spec)
    model = build_model(design, family, priors)
    names = [v.name for v in model.free_RVs + model.deterministics]
    prior = pm.sample_prior_predictive(draws=draws, model=model, var_names=names, random_seed=spec.seed)
    with np.errstate(over="ignore", invalid="ignore"):
        return ppc_table(prior.prior, design, family, spec.seed)


def _run_info(spec: ModelSpec, design, threads: int) -> dict:
    return {
        "model": spec.name,
        "formula": spec.formula,
        "family": spec.family,
        "sampler": spec.sampler,
        "chains": spec.chains,
        "draws": spec.draws,
        "tune": spec.tune,
        "seed": spec.seed,
        "target_accept": spec.target_accept,
        "mass_matrix": spec.mass_matrix if spec.sampler == "nutpie" else "diagonal",
        "threads": threads,
        "n_obs": design.n,
        "n_levels": {e.factor: len(e.levels) for e in design.group_effects},
        "versions": {"pymc": pm.__version__, "arviz": az.__version__},
    }


def _apply_gate(result: FitResult) -> None:
    diag = result.diagnostics
    if diag["gate_passed"]:
        return
    message = f"model '{result.spec.name}' FAILED the convergence gate: " + "; ".join(diag["gate_failures"])
    if result.spec.gate.on_fail == "error":
        raise ConvergenceError(message, result)
    log.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
