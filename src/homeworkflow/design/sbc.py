"""Simulation-based calibration (SBC) of the Study 1 model: draw the model's parameters from its
own priors (`homeworkflow.models.spec.priors.draw_prior`), simulate the outcome from the model
given the covariates of a simulated Study 1 sample, fit, and record the rank of each true
parameter among thinned posterior draws (`sbc_replicate`); if the inference is right the ranks are
uniform (`sbc_table`: chi-square and Kolmogorov-Smirnov tests, Bonferroni-corrected). The truths
are put on the reported scale by the models package's own back-transformation
(`homeworkflow.models.backend.build.to_data_scale`). Documented in docs/design.md."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from homeworkflow.design.replicates import diagnostic_columns, model_spec, simulate_analysis_table, simulation_params
from homeworkflow.design.seeds import sbc_seeds
from homeworkflow.design.settings import DesignPoint

log = logging.getLogger(__name__)

# Outcome of the Study 1 model (the analysis table's column).
OUTCOME = "homework"
# Redraws of SBC parameters allowed when the simulated outcome is constant (a model cannot be
# fitted to it); each redraw is recorded in the replicate's `prior_redraws` column.
MAX_PRIOR_REDRAWS = 20


SBC_COLUMNS = [
    "replicate",
    "term",
    "truth",
    "rank",
    "n_draws",
    "mean",
    "divergences",
    "max_rhat",
    "min_ess_bulk",
    "prior_redraws",
    "simulation_seed",
    "prior_seed",
    "sampler_seed",
]


@dataclass
class PriorDraw:
    """One draw of the model's parameters (internal, standardised scale) and the outcome it implies."""

    intercept_std: float
    b_std: np.ndarray
    sd_std: np.ndarray
    z: list[np.ndarray]
    y: np.ndarray

    def data_scale(self, matrix) -> dict[str, float]:
        """The draw as the model reports it, through the models package's back-transformation
        (`to_data_scale`): b_j = b*_j / s_j, Intercept = Intercept* - sum_j b*_j m_j / s_j,
        sd_k = sd*_k / (slope scale, 1 for intercepts)."""
        import xarray as xr

        from homeworkflow.models.backend.build import to_data_scale

        internal = xr.Dataset(
            {
                "Intercept_std": self.intercept_std,
                "b_std": ("term", np.asarray(self.b_std, dtype=float)),
                "sd_std": ("sd_term", np.asarray(self.sd_std, dtype=float)),
            }
        )
        reported = to_data_scale(internal, matrix, "bernoulli", keep_group_effects=False)
        out = {"Intercept": float(reported["Intercept"])} if matrix.has_intercept else {}
        out.update({t: float(b) for t, b in zip(matrix.terms, reported["b"].values)} if matrix.terms else {})
        if matrix.group_effects:
            out.update({e.label: float(sd) for e, sd in zip(matrix.group_effects, reported["sd"].values)})
        return out


def draw_from_model(matrix, priors, rng: np.random.Generator) -> PriorDraw:
    """Parameters from the priors and an outcome from the bernoulli-logit model, given the design
    matrix (`homeworkflow.models.spec.formula.build_design`).

    Written out independently of the PyMC model (homeworkflow.models.backend.build), following its
    documented form: eta = Intercept* + X* b* + sum_k sd*_k z_k[level] (times the scaled slope
    column for varying slopes), z ~ N(0, 1), y ~ Bernoulli(logit^-1(eta)).
    """
    from scipy.special import expit

    from homeworkflow.models.spec.priors import draw_prior

    intercept = float(draw_prior(priors.intercept, rng)) if matrix.has_intercept else 0.0
    b = np.array([draw_prior(p, rng) for p in priors.slopes], dtype=float)
    sd = np.array([draw_prior(p, rng) for p in priors.sds], dtype=float)
    z = [rng.standard_normal(len(e.levels)) for e in matrix.group_effects]
    eta = intercept + (matrix.X @ b if len(b) else 0.0)
    for effect, s, zk in zip(matrix.group_effects, sd, z):
        u = (s * zk)[effect.index]
        eta = eta + (u if effect.values is None else u * effect.values)
    y = (rng.random(matrix.n) < expit(eta)).astype(np.int64)
    return PriorDraw(intercept, b, sd, z, y)


def thin_indices(n: int, keep: int) -> np.ndarray:
    """`keep` evenly spaced indices into n draws (all of them when keep >= n)."""
    if keep >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, keep).round().astype(np.int64)


def rank_statistic(draws: np.ndarray, truth: float) -> int:
    """SBC rank: the number of posterior draws below the true value (0..len(draws))."""
    return int(np.sum(np.asarray(draws) < truth))


def sbc_ranks(draws: Mapping[str, np.ndarray], truths: Mapping[str, float], keep: int) -> dict[str, tuple[int, int]]:
    """Rank of each true value among `keep` evenly thinned draws: {term: (rank, n_draws)}.

    `draws[term]` is (chain, draw) or flat; chains are concatenated before thinning.
    """
    out = {}
    for term, truth in truths.items():
        flat = np.asarray(draws[term]).reshape(-1)
        kept = flat[thin_indices(flat.size, keep)]
        out[term] = (rank_statistic(kept, truth), int(kept.size))
    return out


def sbc_replicate(settings: Mapping, threads: int = 1) -> pd.DataFrame:
    """One SBC replicate; one row per model term (SBC_COLUMNS).

    `settings`: model {formula, priors}, sampling, gate, simulation (simulator overrides), design
    (a DesignPoint's dict, the SBC sample's sizes), draws_kept, replicate, seed (master), centre,
    reference_levels. The covariates and nesting come from the Study 1 simulator (its homework
    column is replaced); the parameters from the model's priors.
    """
    from homeworkflow.models import fit_model
    from homeworkflow.models.posterior.summaries import term_draws
    from homeworkflow.models.spec.formula import build_design
    from homeworkflow.models.spec.priors import resolve_priors

    point = DesignPoint(**settings["design"])
    master, replicate = settings["seed"], int(settings["replicate"])
    seeds = sbc_seeds(master, replicate)
    params = simulation_params(settings.get("simulation") or {}, point)
    data, _, _ = simulate_analysis_table(
        params, seeds["simulation"], settings.get("reference_levels"), settings.get("centre") or []
    )
    spec = model_spec(f"sbc_{replicate}", settings, seeds["sampler"])
    matrix = build_design(data, spec.formula, spec.family, spec.reference_levels)
    if matrix.outcome != OUTCOME:
        raise ValueError(f"SBC needs a model of '{OUTCOME}', got outcome '{matrix.outcome}'")
    priors = resolve_priors(spec.family, spec.priors, matrix.terms, [e.label for e in matrix.group_effects])
    for redraw in range(MAX_PRIOR_REDRAWS + 1):
        prior_seed = sbc_seeds(master, replicate, redraw)["prior"]
        draw = draw_from_model(matrix, priors, np.random.default_rng(prior_seed))
        if 0 < draw.y.sum() < matrix.n:
            break
        log.info("replicate %d: prior draw %d gave a constant outcome; redrawing", replicate, redraw)
    else:
        raise RuntimeError(f"SBC replicate {replicate}: {MAX_PRIOR_REDRAWS + 1} prior draws all gave a constant outcome")
    data = data.copy()
    data[OUTCOME] = draw.y
    result = fit_model(data, spec, threads=threads)
    truths = draw.data_scale(matrix)
    draws = term_draws(result.idata.posterior)
    missing = sorted(set(truths) - set(draws.data_vars))
    if missing:
        raise RuntimeError(f"posterior lacks term(s) {missing}")
    ranks = sbc_ranks({t: draws[t].values for t in truths}, truths, int(settings["draws_kept"]))
    means = result.summary.set_index("term")["mean"]
    diag = diagnostic_columns(result.diagnostics)
    rows = [
        {
            "replicate": replicate,
            "term": term,
            "truth": truths[term],
            "rank": rank,
            "n_draws": n,
            "mean": float(means[term]),
            **diag,
            "prior_redraws": redraw,
            "simulation_seed": seeds["simulation"],
            "prior_seed": prior_seed,
            "sampler_seed": seeds["sampler"],
        }
        for term, (rank, n) in ranks.items()
    ]
    log.info(
        "SBC replicate %d: outcome mean %.3f, fit in %.1f s, ranks %s",
        replicate,
        draw.y.mean(),
        result.diagnostics["total_s"],
        {t: r for t, (r, _) in ranks.items()},
    )
    return pd.DataFrame(rows, columns=SBC_COLUMNS)


def uniformity_tests(ranks: Iterable[int], n_draws: int, bins: int) -> dict[str, float]:
    """Tests that SBC ranks (0..n_draws) are uniform.

    Chi-square: ranks binned into `bins` equal groups of the n_draws + 1 possible values (bins
    must divide n_draws + 1), against equal expected counts, bins - 1 degrees of freedom.
    Kolmogorov-Smirnov: (rank + 0.5) / (n_draws + 1) against Uniform(0, 1) (slightly
    conservative for discrete ranks).
    """
    ranks = np.asarray(list(ranks), dtype=np.int64)
    if (n_draws + 1) % bins:
        raise ValueError(f"bins ({bins}) must divide the number of possible ranks ({n_draws + 1})")
    if ranks.size == 0 or ranks.min() < 0 or ranks.max() > n_draws:
        raise ValueError(f"ranks must lie in 0..{n_draws}")
    from scipy import stats  # here, not at module level: the Snakefile imports this module

    counts = bin_counts(ranks, n_draws, bins)
    chi2 = stats.chisquare(counts)
    ks = stats.kstest((ranks + 0.5) / (n_draws + 1), "uniform")
    return {
        "chi2": float(chi2.statistic),
        "chi2_p": float(chi2.pvalue),
        "ks": float(ks.statistic),
        "ks_p": float(ks.pvalue),
    }


def bin_counts(ranks: np.ndarray, n_draws: int, bins: int) -> np.ndarray:
    """Counts of ranks in `bins` equal groups of the n_draws + 1 possible values."""
    width = (n_draws + 1) // bins
    return np.bincount(np.asarray(ranks) // width, minlength=bins)[:bins]


def sbc_table(ranks: pd.DataFrame, bins: int, alpha: float = 0.01) -> pd.DataFrame:
    """Uniformity tests per term, Bonferroni-corrected over every test of the table.

    Columns: term, replicates, n_draws, chi2, chi2_p, ks, ks_p, p_min, p_bonferroni
    (= min(1, p_min x 2 x number of terms)), calibrated (p_bonferroni > alpha: no miscalibration
    detected), mean_rank_fraction (0.5 expected; below: the posterior overestimates, above:
    underestimates), divergent_fits. Terms keep the model's order.
    """
    n_draws = ranks["n_draws"].unique()
    if len(n_draws) != 1:
        raise ValueError(f"replicates were thinned to different numbers of draws: {sorted(n_draws)}")
    n_draws = int(n_draws[0])
    terms = list(dict.fromkeys(ranks["term"]))
    n_tests = 2 * len(terms)
    rows = []
    for term in terms:
        part = ranks[ranks["term"] == term]
        tests = uniformity_tests(part["rank"], n_draws, bins)
        p_min = min(tests["chi2_p"], tests["ks_p"])
        p_adj = min(1.0, p_min * n_tests)
        rows.append(
            {
                "term": term,
                "replicates": int(part["replicate"].nunique()),
                "n_draws": n_draws,
                **tests,
                "p_min": p_min,
                "p_bonferroni": p_adj,
                "calibrated": bool(p_adj > alpha),
                "mean_rank_fraction": float(part["rank"].mean() / n_draws),
                "divergent_fits": int((part["divergences"] > 0).sum()),
            }
        )
    return pd.DataFrame(rows)
