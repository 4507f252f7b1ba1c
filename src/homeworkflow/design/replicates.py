"""One replicate runner for every design study: simulate a data set with a simulator parameter
set, derive its analysis table through the workflow's own chain (`homeworkflow.data.chain`), fit
a model and record per term the truth, the posterior mean and 95% interval, whether the interval
excludes 0 and covers the truth, the fit's diagnostics and the seeds (`fit_replicate`). The
power analysis (`power`), SBC (`sbc`) and the Study 2 recovery (`recovery`) build on it.
Imports neither PyMC nor PyTensor at import time: rule scripts call
`homeworkflow.models.configure_compile_cache` first."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from homeworkflow.data.chain import analysis_tables
from homeworkflow.design.settings import DesignPoint
from homeworkflow.simulate import simulate_study1, simulate_study2

log = logging.getLogger(__name__)


def merge(base: Mapping, override: Mapping) -> dict:
    """Nested dict `base` updated by `override` (sub-dicts merged, not replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_parameter(params: Mapping, dotted: str, value: float) -> dict:
    """params with the simulator parameter 'section.key' set to value."""
    section, _, key = dotted.partition(".")
    if not key:
        raise ValueError(f"design.power.parameter must be 'section.key', got {dotted!r}")
    return merge(params, {section: {key: value}})


def simulation_params(
    overrides: Mapping, point: DesignPoint, parameter: str | None = None, value: float | None = None
) -> dict:
    """Simulator parameters of one replicate: the design's overrides, the point's sizes, the effect."""
    params = merge(overrides or {}, {"sizes": point.sizes()})
    if parameter is not None:
        params = set_parameter(params, parameter, value)
    return params


def simulate_analysis_table(
    params: Mapping, seed: int, reference_levels: Mapping | None = None, centre: Iterable[str] = ()
) -> tuple[pd.DataFrame, dict, dict]:
    """Simulate Study 1 and derive its analysis table exactly as the workflow does
    (validate -> clean -> features). Returns (sessions table, truth, scaling record)."""
    tables, truth = simulate_study1(dict(params), seed=seed)
    derived, _ = analysis_tables(
        "study1", tables, reference_levels=dict(reference_levels or {}), centre=list(centre)
    )
    return derived["sessions"], truth, derived["scaling"]


def simulate_intervals(params: Mapping, seed: int, outcome: str, centre: float) -> tuple[pd.DataFrame, dict]:
    """Simulate Study 2 and derive `outcome`'s intervals table as the workflow does
    (validate -> clean -> features). Returns (intervals, truth)."""
    tables, truth = simulate_study2(dict(params), seed=seed)
    derived, _ = analysis_tables("study2", tables, outcomes=[outcome], baseline_centre={outcome: centre})
    return derived[f"intervals_{outcome}"], truth


def true_values(truth: Mapping, terms: Iterable[str], scaling: Mapping, centre: Iterable[str]) -> dict[str, float]:
    """The true value of each model term, on the scale the model reports.

    Slopes and SDs are the simulator's `log_odds`. The intercept is the log-odds at every
    predictor 0 in the analysis table: centred numeric columns sit at their sample mean there, so
    Intercept = log_odds.Intercept + sum over centred numeric c of log_odds[c] * mean(c).
    A term the simulator has no value for gets NaN.
    """
    log_odds = truth["log_odds"]
    out = {}
    for term in terms:
        if term == "Intercept":
            shift = sum(
                log_odds[c] * scaling[c]["mean"] for c in centre if c in log_odds and c in scaling
            )
            out[term] = float(log_odds["Intercept"] + shift)
        else:
            out[term] = float(log_odds.get(term, np.nan))
    return out


def omitted_effects(truth: Mapping, terms: Iterable[str], tol: float = 1e-12) -> list[str]:
    """Simulated non-zero effects that the model leaves out (the model is then misspecified and
    coverage of the remaining terms need not be 95%)."""
    terms = set(terms)
    return sorted(
        name
        for name, value in truth["log_odds"].items()
        if name not in terms and not name.startswith("sd(") and name != "Intercept" and abs(value) > tol
    )


def model_spec(name: str, settings: Mapping, seed: int):
    """ModelSpec of a design fit: formula and priors from `settings["model"]`, sampler settings
    from `settings["sampling"]`, gate from `settings["gate"]` (never fails the job: on_fail warn;
    no extra chains unless it sets `extend`, so a replicate's draws do not depend on its diagnostics),
    group effects not kept (not needed)."""
    from homeworkflow.models import ModelSpec

    model = settings["model"]
    config = {
        "formula": model["formula"],
        "family": "bernoulli",
        **dict(settings.get("sampling") or {}),
        "seed": int(seed),
        "gate": {"extend": 0, **dict(settings.get("gate") or {}), "on_fail": "warn"},
        "save_group_effects": False,
    }
    if model.get("priors"):
        config["priors"] = dict(model["priors"])
    if settings.get("reference_levels"):
        config["reference_levels"] = dict(settings["reference_levels"])
    return ModelSpec.from_config(name, config)


def interval_rows(summary: pd.DataFrame, truths: Mapping[str, float]) -> pd.DataFrame:
    """One row per term: truth, posterior mean, 95% interval, excludes_zero, covers."""
    rows = []
    for _, s in summary.iterrows():
        truth = truths.get(s["term"], np.nan)
        lo, hi = float(s["q2.5"]), float(s["q97.5"])
        rows.append(
            {
                "term": s["term"],
                "truth": truth,
                "mean": float(s["mean"]),
                "q2.5": lo,
                "q97.5": hi,
                "excludes_zero": bool(lo > 0 or hi < 0),
                "covers": bool(lo <= truth <= hi) if np.isfinite(truth) else pd.NA,
            }
        )
    return pd.DataFrame(rows)


def diagnostic_columns(diagnostics: Mapping) -> dict:
    return {
        "divergences": int(diagnostics["divergences"]),
        "max_rhat": float(diagnostics["max_rhat"]),
        "min_ess_bulk": float(diagnostics["min_ess_bulk"]),
    }


def fit_replicate(
    data: pd.DataFrame,
    spec,
    truths: Callable[[list[str]], Mapping[str, float]],
    coordinates: Mapping[str, object],
    seeds: Mapping[str, int],
    threads: int = 1,
):
    """Fit `spec` to one replicate's data; returns (rows, fit result).

    One row per term: the replicate's `coordinates` first (e.g. design, effect, replicate), then
    `interval_rows` against `truths(terms)`, the fit's diagnostics and the simulation and sampler
    seeds.
    """
    from homeworkflow.models import fit_model

    result = fit_model(data, spec, threads=threads)
    rows = interval_rows(result.summary, truths(list(result.summary["term"])))
    for position, (name, value) in enumerate(coordinates.items()):
        rows.insert(position, name, value)
    for key, value in diagnostic_columns(result.diagnostics).items():
        rows[key] = value
    rows["simulation_seed"] = seeds["simulation"]
    rows["sampler_seed"] = seeds["sampler"]
    return rows, result


def mcse(p: pd.Series, n: pd.Series) -> pd.Series:
    """Monte Carlo standard error of a proportion p estimated from n replicates."""
    return np.sqrt(p * (1 - p) / n)


def read_replicates(paths: Iterable[str]) -> pd.DataFrame:
    """Concatenate replicate CSVs (power or SBC) in the given order."""
    frames = [pd.read_csv(p) for p in paths]
    if not frames:
        raise ValueError("no replicate files")
    return pd.concat(frames, ignore_index=True)
