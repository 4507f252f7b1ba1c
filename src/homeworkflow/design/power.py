"""Power analysis of the Study 1 model: for each design point (therapists x clients per therapist
x sessions per client) and each effect size (an odds ratio of the Study 1 simulator), simulate
replicate data sets, fit the model to each and record, per model term, whether the 95% interval
excludes zero and covers the truth (`power_replicate`); `power_table` and `coverage_table`
aggregate the replicates. Documented in docs/design.md."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from homeworkflow.design.replicates import (
    fit_replicate,
    mcse,
    model_spec,
    omitted_effects,
    simulate_analysis_table,
    simulation_params,
    true_values,
)
from homeworkflow.design.seeds import power_seeds
from homeworkflow.design.settings import DesignPoint

log = logging.getLogger(__name__)

REPLICATE_COLUMNS = [
    "design",
    "effect",
    "replicate",
    "term",
    "truth",
    "mean",
    "q2.5",
    "q97.5",
    "excludes_zero",
    "covers",
    "divergences",
    "max_rhat",
    "min_ess_bulk",
    "simulation_seed",
    "sampler_seed",
]


def power_replicate(settings: Mapping, threads: int = 1) -> pd.DataFrame:
    """Simulate and fit one power replicate; one row per model term (REPLICATE_COLUMNS).

    `settings` (a rule's params): model {formula, priors}, sampling, gate, simulation (simulator
    overrides), parameter (e.g. 'homework.or_caregiver_present'), design (a DesignPoint's dict),
    design_label, effect (the odds ratio), effect_label, replicate, seed (master), centre,
    reference_levels.
    """
    point = DesignPoint(**settings["design"])
    seeds = power_seeds(settings["seed"], settings["design_label"], settings["effect_label"], settings["replicate"])
    params = simulation_params(settings.get("simulation") or {}, point, settings["parameter"], settings["effect"])
    centre = list(settings.get("centre") or [])
    data, truth, scaling = simulate_analysis_table(
        params, seeds["simulation"], settings.get("reference_levels"), centre
    )
    spec = model_spec(f"power_{settings['design_label']}_{settings['effect_label']}", settings, seeds["sampler"])

    def truths(terms: list[str]) -> dict[str, float]:
        omitted = omitted_effects(truth, terms)
        if omitted:
            log.warning("the model leaves out simulated non-zero effects %s: coverage may fall short of 95%%", omitted)
        return true_values(truth, terms, scaling, centre)

    coordinates = {
        "design": settings["design_label"],
        "effect": float(settings["effect"]),
        "replicate": int(settings["replicate"]),
    }
    rows, result = fit_replicate(data, spec, truths, coordinates, seeds, threads)
    log.info(
        "design %s, effect %s, replicate %s: %d sessions, fit in %.1f s (compile %.1f s)",
        settings["design_label"],
        settings["effect_label"],
        settings["replicate"],
        len(data),
        result.diagnostics["total_s"],
        result.diagnostics["compile_s"],
    )
    return rows[REPLICATE_COLUMNS]


def power_table(replicates: pd.DataFrame, term: str, designs: Mapping[str, DesignPoint] | None = None) -> pd.DataFrame:
    """Power and coverage of `term` per design point and effect size.

    Columns: design, the three sizes and n_sessions (when `designs` is given), effect (odds
    ratio), true_log_odds, replicates, power (share of 95% intervals excluding 0; at OR = 1 this
    is the false-positive rate), power_mcse, coverage (share covering the truth), coverage_mcse,
    mean_estimate, bias (mean estimate - truth), divergent_fits (replicates with any divergence).
    Rows follow the order of `designs` (else of first appearance), then effect size.
    """
    rows = replicates[replicates["term"] == term]
    if rows.empty:
        raise ValueError(f"no replicate rows for term {term!r}; terms present: {sorted(replicates['term'].unique())}")
    grouped = rows.groupby(["design", "effect"], sort=False)
    out = grouped.agg(
        true_log_odds=("truth", "mean"),
        replicates=("replicate", "nunique"),
        power=("excludes_zero", "mean"),
        coverage=("covers", lambda s: s.astype(float).mean()),
        mean_estimate=("mean", "mean"),
        divergent_fits=("divergences", lambda s: int((s > 0).sum())),
    ).reset_index()
    out["power"] = out["power"].astype(float)
    out["power_mcse"] = mcse(out["power"], out["replicates"])
    out["coverage_mcse"] = mcse(out["coverage"], out["replicates"])
    out["bias"] = out["mean_estimate"] - out["true_log_odds"]
    order = list(designs) if designs else list(dict.fromkeys(rows["design"]))
    out["_order"] = out["design"].map({d: i for i, d in enumerate(order)})
    out = out.sort_values(["_order", "effect"], kind="stable").drop(columns="_order").reset_index(drop=True)
    size_columns = []
    if designs:
        sizes = pd.DataFrame(
            [{"design": label, **p.as_dict(), "n_sessions": p.n_sessions} for label, p in designs.items()]
        )
        out = out.merge(sizes, on="design", how="left", sort=False)
        size_columns = ["n_therapists", "clients_per_therapist", "sessions_per_client", "n_sessions"]
    columns = [
        "design",
        *size_columns,
        "effect",
        "true_log_odds",
        "replicates",
        "power",
        "power_mcse",
        "coverage",
        "coverage_mcse",
        "mean_estimate",
        "bias",
        "divergent_fits",
    ]
    return out[columns]


def coverage_table(replicates: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the 95% interval and bias for every term, per design point and effect."""
    known = replicates[replicates["truth"].notna()]
    grouped = known.groupby(["design", "effect", "term"], sort=False)
    out = grouped.agg(
        truth=("truth", "mean"),
        replicates=("replicate", "nunique"),
        coverage=("covers", lambda s: s.astype(float).mean()),
        mean_estimate=("mean", "mean"),
        excludes_zero=("excludes_zero", "mean"),
    ).reset_index()
    out["coverage_mcse"] = mcse(out["coverage"], out["replicates"])
    out["bias"] = out["mean_estimate"] - out["truth"]
    return out[
        ["design", "effect", "term", "truth", "replicates", "coverage", "coverage_mcse", "mean_estimate", "bias", "excludes_zero"]
    ]
