"""Bayesian model of score change in which the TRUE review percentage is latent.

The detector marks dialogue units as review. Its false positives fall in the sessions where it
detects review at all (a detector's false alarms sit in dialogue about between-session work, not
spread over every session); sessions without a detected review unit have none. With true review
share p, recall r, detected share d (all over the sessions table) and u the share of all units in
sessions with a detected review unit, the false positives are d (1 - precision) of all units, on
the u - p non-review units of those sessions, so their rate there is

    q = d (1 - precision) / (u - precision d / r)        (p = precision d / r).

With u = 1 (every session eligible) q is the usual false-positive rate over all non-review units.
An interval's observed review % (the mean of its k sessions' detected %) then has mean
(r - q) T + 100 q a, for true interval-mean review % T and a the share of its sessions with a
detected review unit, and binomial variance
100^2 [t r (1 - r) sum_s(1 / n_s) + q (1 - q) sum_{s detected}(1 / n_s)] / k^2 (t = T / 100).
Methods and priors: docs/study2.md.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..models.posterior.convergence import diagnose
from ..models.backend.sampling import nutpie_sample, pymc_sample
from .slopes import INTERACTION, INTERVAL_COLUMNS, REVIEW, draw_summary

ME_METHOD = "Bayesian measurement-error model (latent true review %)"
TERMS = [REVIEW, "baseline_centred", INTERACTION]
GROUPS = ["organisation_id", "therapist_id", "client_id"]
SD_TERMS = [f"sd({g})" for g in GROUPS]
KEPT = [
    "Intercept",
    "b",
    "sd",
    "sigma",
    "precision",
    "recall",
    "fpr",
    "log_mean_true_review",
    "sd_client_true_review",
    "sd_interval_true_review",
    "mean_true_review_percentage",
    "true_review_percentage",
]

# A detector rate: a fixed value, or (alpha, beta) of a Beta distribution (a list from YAML too).
Rate = float | tuple[float, float] | list[float]


def detector_rates_from_validation(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Beta(successes + 1, failures + 1) for precision and recall from a validation table with one
    row per dialogue unit and 0/1 columns `human` (truth) and `detected`; pass the result on as
    `fit_measurement_error_model(..., **rates)`."""
    human = table["human"].astype(bool)
    detected = table["detected"].astype(bool)
    tp = int((human & detected).sum())
    fp = int((~human & detected).sum())
    fn = int((human & ~detected).sum())
    if tp + fp == 0 or tp + fn == 0:
        raise ValueError("validation table needs at least one detected and one human-coded review unit")
    return {"precision": (tp + 1.0, fp + 1.0), "recall": (tp + 1.0, fn + 1.0)}


def false_positive_rate(precision, recall, detected_share, eligible_share=1.0):
    """Rate q at which non-review units of eligible sessions (those with a detected review unit;
    `eligible_share` of all units) are detected as review, implied by precision and recall at the
    detected share (module docstring); works on floats and on PyTensor tensors."""
    return detected_share * (1 - precision) / (eligible_share - precision * detected_share / recall)


def interval_detection_terms(intervals: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Per interval (row order kept) over its k sessions, the `n_sessions` sessions numbered from
    start_session (so it holds whether end_session is counted in the interval or not):
    `h` = sum_s(1 / n_units_s) / k^2, `h_detected` the same sum over sessions with a detected
    review unit, and `detected_sessions` = the share a of its sessions with one."""
    keys = intervals[["client_id", "start_session", "n_sessions"]].assign(row=np.arange(len(intervals)))
    columns = ["client_id", "session_number", "n_units", "review_units"]
    merged = keys.merge(sessions[columns], on="client_id")
    first = merged["start_session"]
    inside = (merged["session_number"] >= first) & (merged["session_number"] < first + merged["n_sessions"])
    merged = merged[inside]
    detected = (merged["review_units"] > 0).to_numpy()
    merged = merged.assign(
        inverse=1.0 / merged["n_units"], inverse_detected=detected / merged["n_units"], detected=detected
    )
    by_row = merged.groupby("row").agg(
        size=("inverse", "size"),
        inverse=("inverse", "sum"),
        inverse_detected=("inverse_detected", "sum"),
        detected=("detected", "sum"),
    )
    by_row = by_row.reindex(range(len(intervals)))
    if by_row["size"].isna().any():
        raise ValueError(
            f"{int(by_row['size'].isna().sum())} interval(s) have no sessions in the sessions table"
        )
    k = by_row["size"].to_numpy(float)
    return pd.DataFrame(
        {
            "h": by_row["inverse"].to_numpy() / k**2,
            "h_detected": by_row["inverse_detected"].to_numpy() / k**2,
            "detected_sessions": by_row["detected"].to_numpy() / k,
        }
    )


def build_measurement_error_model(
    intervals: pd.DataFrame, sessions: pd.DataFrame, precision: Rate, recall: Rate
) -> pm.Model:
    """The PyMC model (see module docstring and docs/study2.md); data-scale quantities are
    Deterministics named like the generic model's: Intercept, b[term], sd[sd_term], sigma."""
    data = intervals.dropna(subset=["change", "review_percentage", "baseline_centred", *GROUPS])
    data = data.reset_index(drop=True)
    terms = interval_detection_terms(data, sessions)
    h, h_detected, a = (terms[c].to_numpy() for c in ("h", "h_detected", "detected_sessions"))
    units = sessions["n_units"].to_numpy(float)
    detected_share = sessions["review_units"].sum() / units.sum()
    eligible_share = units[sessions["review_units"].to_numpy() > 0].sum() / units.sum()
    observed = data["review_percentage"].to_numpy(float)
    baseline = data["baseline_centred"].to_numpy(float)
    change = data["change"].to_numpy(float)
    codes, coords = {}, {"interval": np.arange(len(data)), "term": TERMS, "sd_term": SD_TERMS}
    for group in GROUPS:
        codes[group], coords[group] = pd.factorize(data[group], sort=True)

    # Point values of the rates give a moment-corrected observed %, used only to centre and scale
    # the latent and to locate its prior.
    p0, r0 = _point(precision), _point(recall)
    f0 = false_positive_rate(p0, r0, detected_share, eligible_share)
    guess = np.clip((observed - 100 * f0 * a) / (r0 - f0), 0.05, None)
    m_t, s_t = guess.mean(), guess.std()
    m_b, s_b = baseline.mean(), baseline.std()
    m_y, s_y = change.mean(), change.std()

    with pm.Model(coords=coords) as model:
        prec = _rate("precision", precision)
        rec = _rate("recall", recall)
        fpr = pm.Deterministic("fpr", false_positive_rate(prec, rec, detected_share, eligible_share))

        # Latent true review % T: log T ~ Normal(client-level mean, sd), centred, since the
        # detected % measures each T closely; the client means are pooled (non-centred).
        log_mean = pm.Normal("log_mean_true_review", np.log(m_t), 1.0)
        sd_client = pm.HalfNormal("sd_client_true_review", 1.0)
        z_client = pm.Normal("z_client_true_review", 0.0, 1.0, dims="client_id")
        sd_interval = pm.HalfNormal("sd_interval_true_review", 2.0)
        log_true = pm.Normal(
            "log_true_review_percentage",
            log_mean + sd_client * z_client[codes["client_id"]],
            sd_interval,
            dims="interval",
        )
        true = pt.exp(log_true)
        pm.Deterministic("true_review_percentage", true, dims="interval")
        pm.Deterministic("mean_true_review_percentage", true.mean())
        # Binomial variance of the detected % (floored: an interval without a detected unit has
        # no false-positive term and, at T near 0, no variance).
        noise_var = 1e4 * (h * true / 100 * rec * (1 - rec) + h_detected * fpr * (1 - fpr)) + 1e-4
        pm.Normal(
            "review_percentage",
            mu=(rec - fpr) * true + 100 * fpr * a,
            sigma=pt.sqrt(noise_var),
            observed=observed,
            dims="interval",
        )

        # Outcome on the standardised scale (centred product), random intercepts non-centred.
        x_t = (true - m_t) / s_t
        x_b = (baseline - m_b) / s_b
        intercept = pm.Normal("Intercept_std", 0.0, 2.5)
        beta = pm.Normal("b_std", 0.0, 2.5, dims="term")
        sd = pm.HalfNormal("sd_std", 1.0, dims="sd_term")
        eta = intercept + beta[0] * x_t + beta[1] * x_b + beta[2] * x_t * x_b
        for k, group in enumerate(GROUPS):
            eta = eta + pm.Normal(f"z_{group}", 0.0, 1.0, dims=group)[codes[group]] * sd[k]
        sigma = pm.HalfNormal("sigma_std", 1.0)
        pm.Normal("change", m_y + s_y * eta, s_y * sigma, observed=change, dims="interval")

        # Back to the data scale: expand m_y + s_y * eta in T, b and T * b.
        c1, c2, c3 = beta[0] / s_t, beta[1] / s_b, beta[2] / (s_t * s_b)
        b = pt.stack([c1 - c3 * m_b, c2 - c3 * m_t, c3]) * s_y
        pm.Deterministic("b", b, dims="term")
        pm.Deterministic("Intercept", m_y + s_y * (intercept - c1 * m_t - c2 * m_b + c3 * m_t * m_b))
        pm.Deterministic("sd", s_y * sd, dims="sd_term")
        pm.Deterministic("sigma", s_y * sigma)
    return model


def fit_measurement_error_model(
    intervals: pd.DataFrame,
    sessions: pd.DataFrame,
    precision: Rate,
    recall: Rate,
    seed: int,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    sampler: str = "nutpie",
    threads: int | None = None,
    disk_cache: bool = False,
) -> tuple[az.InferenceData, pd.DataFrame]:
    """Sample the model (nutpie, or PyMC's NUTS with sampler="pymc") and summarise it like the
    naive model: one row per term, sd, sigma and measurement quantity (`summarise`).
    `disk_cache`: as for `fit_model`."""
    build = functools.partial(build_measurement_error_model, intervals, sessions, precision, recall)
    model = build()
    kept = [name for name in KEPT if name in model.named_vars]
    cores = threads or min(chains, os.cpu_count() or 1)
    common = {"draws": draws, "tune": tune, "chains": chains, "cores": cores}
    if sampler == "nutpie":
        idata, _, _ = nutpie_sample(model, **common, seed=seed, var_names=kept, rebuild=build if disk_cache else None)
    elif sampler == "pymc":
        idata = pymc_sample(model, **common, seed=seed, var_names=kept)
    else:
        raise ValueError(f"sampler must be 'nutpie' or 'pymc', got {sampler!r}")
    return idata, summarise(idata.posterior)


def summarise(posterior) -> pd.DataFrame:
    """term, estimate (posterior mean), std_error (posterior SD), 95% (ci_*) and 90% (ci90_*)
    equal-tailed intervals, rhat, ess_bulk, method; the same term names as the naive models."""
    series = {"Intercept": posterior["Intercept"]}
    series |= {term: posterior["b"].sel(term=term) for term in TERMS}
    series |= {label: posterior["sd"].sel(sd_term=label) for label in SD_TERMS}
    series |= {
        name: posterior[name]
        for name in ["sigma", "precision", "recall", "fpr", "mean_true_review_percentage"]
        if name in posterior
    }
    draws = np.stack([np.asarray(values) for values in series.values()], axis=-1)  # (chain, draw, term)
    diag = diagnose(draws)
    varies = np.ptp(draws, axis=(0, 1)) > 0  # fixed rates are constants: no diagnostics
    rhat, ess = np.where(varies, diag.rhat, np.nan), np.where(varies, diag.ess_bulk, np.nan)
    rows = [
        [term, *draw_summary(draws[..., i]), float(rhat[i]), float(ess[i]), ME_METHOD]
        for i, term in enumerate(series)
    ]
    columns = ["term", *INTERVAL_COLUMNS, "rhat", "ess_bulk", "method"]
    return pd.DataFrame(rows, columns=columns)


def _rate(name: str, value: Rate):
    """A fixed rate as a constant, a Beta pair as a random variable."""
    if isinstance(value, (tuple, list)):
        return pm.Beta(name, *value)
    return pm.Deterministic(name, pt.as_tensor_variable(float(value)))


def _point(value: Rate) -> float:
    return value[0] / (value[0] + value[1]) if isinstance(value, (tuple, list)) else float(value)
