"""Study design: power analysis and simulation-based calibration (SBC) of the Study 1 model.

Power: for each design point (therapists x clients per therapist x sessions per client) and each
effect size (an odds ratio of the Study 1 simulator), simulate replicate data sets, fit the model
to each and record, per model term, whether the 95% interval excludes zero and covers the truth
(`power_replicate`); `power_table` and `coverage_table` aggregate the replicates.

SBC: draw the model's parameters from its own priors, simulate the outcome from the model given
the covariates of a simulated Study 1 sample, fit, and record the rank of each true parameter
among thinned posterior draws (`sbc_replicate`); if the inference is right the ranks are uniform
(`sbc_table`: chi-square and Kolmogorov-Smirnov tests, Bonferroni-corrected).

Seeds are derived from the master seed and the replicate's coordinates by hashing
(`derive_seed`), so every replicate is reproducible on its own, in any order, on any machine.
`DesignRules` holds the input functions, params and targets of rules/design.smk, those of the
Study 2 recovery study (`homeworkflow.design_study2`) included.
This module imports neither PyMC nor PyTensor at import time: rule scripts call
`homeworkflow.models.configure_compile_cache` first. Documented in docs/design.md.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SEED_MODULUS = 2**31  # seeds in [0, 2^31): valid for numpy, PyMC, nutpie and numpyro alike
INTERVAL = (0.025, 0.975)
# Outcome of the Study 1 model (the analysis table's column).
OUTCOME = "homework"
# Redraws of SBC parameters allowed when the simulated outcome is constant (a model cannot be
# fitted to it); each redraw is recorded in the replicate's `prior_redraws` column.
MAX_PRIOR_REDRAWS = 20

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


# ------------------------------------------------------------------------------------- seeds


def derive_seed(master: int, *parts: object) -> int:
    """A seed in [0, 2^31) from the master seed and a replicate's coordinates.

    seed = int(first 8 bytes of SHA-256("homeworkflow-design|<master>|<part 1>|<part 2>|..."),
    big-endian) mod 2^31, parts written with str(). Independent of the order in which replicates
    run and of the machine, so a local and a Slurm run of the same config draw the same data.
    """
    key = "|".join(["homeworkflow-design", str(int(master)), *map(str, parts)])
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % SEED_MODULUS


def power_seeds(master: int, design: str, effect: str, replicate: int) -> dict[str, int]:
    """Seeds of one power replicate: the simulator's and the sampler's."""
    return {
        "simulation": derive_seed(master, "power", design, effect, replicate, "simulate"),
        "sampler": derive_seed(master, "power", design, effect, replicate, "sample"),
    }


def sbc_seeds(master: int, replicate: int, redraw: int = 0) -> dict[str, int]:
    """Seeds of one SBC replicate: covariates (simulator), parameters from the prior (redraw k
    after k constant outcomes), and the sampler."""
    return {
        "simulation": derive_seed(master, "sbc", replicate, "simulate"),
        "prior": derive_seed(master, "sbc", replicate, "prior", redraw),
        "sampler": derive_seed(master, "sbc", replicate, "sample"),
    }


# -------------------------------------------------------------------------- design points


@dataclass(frozen=True)
class DesignPoint:
    """Sizes of one simulated study: therapists, clients per therapist, sessions per client."""

    n_therapists: int
    clients_per_therapist: int
    sessions_per_client: int

    def __post_init__(self):
        for name in ("n_therapists", "clients_per_therapist", "sessions_per_client"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"design: {name} must be a positive integer, got {value!r}")
        if self.n_therapists < 2 or self.n_therapists * self.clients_per_therapist < 3:
            raise ValueError(
                f"design {self.label}: need at least 2 therapists and 3 clients for the random intercepts"
            )

    @property
    def label(self) -> str:
        """Wildcard value, e.g. 't40-c3-s3'."""
        return f"t{self.n_therapists}-c{self.clients_per_therapist}-s{self.sessions_per_client}"

    @property
    def n_clients(self) -> int:
        return self.n_therapists * self.clients_per_therapist

    @property
    def n_sessions(self) -> int:
        return self.n_clients * self.sessions_per_client

    def sizes(self) -> dict[str, int]:
        """The simulator's `sizes` section: totals. Nesting stays uneven around these means
        (the simulator's `allocation` concentrations; override them under `design.simulation`)."""
        return {
            "n_therapists": int(self.n_therapists),
            "n_clients": int(self.n_clients),
            "n_sessions": int(self.n_sessions),
        }

    def as_dict(self) -> dict[str, int]:
        return {
            "n_therapists": int(self.n_therapists),
            "clients_per_therapist": int(self.clients_per_therapist),
            "sessions_per_client": int(self.sessions_per_client),
        }


def design_points(designs: Mapping | Iterable[Mapping]) -> dict[str, DesignPoint]:
    """Design points by label, in config order.

    `designs` is either a grid, a mapping of the three sizes to lists that are fully crossed
    ({n_therapists: [20, 40], clients_per_therapist: [3], sessions_per_client: [2, 4]} -> 4
    points), or an explicit list of points ([{n_therapists: 20, clients_per_therapist: 3,
    sessions_per_client: 3}, ...]). Duplicates are dropped.
    """
    keys = ("n_therapists", "clients_per_therapist", "sessions_per_client")
    if isinstance(designs, Mapping):
        unknown = sorted(set(designs) - set(keys))
        if unknown:
            raise ValueError(f"design grid: unknown key(s) {unknown}; use {list(keys)}")
        lists = [designs[k] if isinstance(designs[k], (list, tuple)) else [designs[k]] for k in keys]
        points = [DesignPoint(*values) for values in itertools.product(*lists)]
    else:
        points = []
        for entry in designs:
            unknown = sorted(set(entry) - set(keys))
            if unknown or set(keys) - set(entry):
                raise ValueError(f"design point {dict(entry)}: needs exactly the keys {list(keys)}")
            points.append(DesignPoint(*(entry[k] for k in keys)))
    out = {}
    for point in points:
        out.setdefault(point.label, point)
    if not out:
        raise ValueError("design: no design points")
    return out


def effect_label(value: float) -> str:
    """Wildcard value of an effect size (an odds ratio), e.g. 1.5 -> 'or1.5'."""
    return f"or{float(value):g}"


def effect_levels(values: Iterable[float]) -> dict[str, float]:
    """Effect sizes by label, in config order; they must be positive odds ratios."""
    out = {}
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"design.power.effects: odds ratios must be positive numbers, got {value!r}")
        out.setdefault(effect_label(value), float(value))
    if not out:
        raise ValueError("design.power.effects: no effect sizes")
    return out


def check_design_config(design: Mapping) -> None:
    """Checks of a validated `design:` section that its schema cannot express; ValueError naming
    the key."""
    power, sbc = design["power"], design["sbc"]
    if power["replicates"] > 0:
        design_points(power["designs"])
        effect_levels(power["effects"])
    if sbc["replicates"] > 0:
        DesignPoint(**sbc["design"])
        sampling = {**design["sampling"], **sbc["sampling"]}
        total = sampling["chains"] * sampling["draws"]
        if sbc["draws_kept"] > total:
            raise ValueError(
                f"design.sbc.draws_kept ({sbc['draws_kept']}) exceeds the posterior draws "
                f"(chains x draws = {total})"
            )
        if (sbc["draws_kept"] + 1) % sbc["bins"]:
            raise ValueError(
                f"design.sbc.bins ({sbc['bins']}) must divide draws_kept + 1 ({sbc['draws_kept'] + 1})"
            )
    study2 = design["study2"]
    if study2["replicates"] > 0:
        from .design_study2 import value_levels

        value_levels(study2["effects"])
        if not study2["parameter"].startswith(f"{study2['outcome']}_change."):
            raise ValueError(
                f"design.study2.parameter ({study2['parameter']}) must be a parameter of the "
                f"{study2['outcome']}_change section of the Study 2 simulator (outcome: {study2['outcome']})"
            )


class DesignRules:
    """Input functions, params and targets of rules/design.smk, read from the workflow's config
    when called (a Snakefile may not mix functions and rules: `snakemake --lint`)."""

    def __init__(self, config: Mapping):
        self.config = config

    def section(self, name: str) -> dict:
        """A part of the `design:` config (power, sbc, ...); an error naming it when absent."""
        design = self.config.get("design")
        if not design:
            raise ValueError("config has no `design:` section; add --configfile config/design.yaml")
        return design[name]

    def master_seed(self) -> int:
        """design.seed, else the workflow's seed."""
        seed = self.config["design"].get("seed")
        return self.config["seed"] if seed is None else seed

    def common(self, sampling_override: Mapping | None = None) -> dict:
        """Settings every replicate shares (so a change reruns exactly the replicates)."""
        design = self.config["design"]
        return {
            "model": design["model"],
            "sampling": {**design["sampling"], **(sampling_override or {})},
            "gate": design["gate"],
            "simulation": design["simulation"],
            "seed": self.master_seed(),
            "centre": self.config["study1"]["centre"],
            "reference_levels": self.config["study1"]["reference_levels"],
        }

    def points(self) -> dict[str, DesignPoint]:
        return design_points(self.section("power")["designs"])

    def effects(self) -> dict[str, float]:
        return effect_levels(self.section("power")["effects"])

    def power_replicate_settings(self, wildcards) -> dict:
        """Params of one power replicate: shared settings, its design point, effect and number."""
        points, effects = self.points(), self.effects()
        if wildcards.design not in points or wildcards.effect not in effects:
            raise ValueError(
                f"design.power: no design point '{wildcards.design}' with effect '{wildcards.effect}' "
                f"(designs: {list(points)}, effects: {list(effects)})"
            )
        return {
            **self.common(),
            "parameter": self.section("power")["parameter"],
            "design": points[wildcards.design].as_dict(),
            "design_label": wildcards.design,
            "effect": effects[wildcards.effect],
            "effect_label": wildcards.effect,
            "replicate": int(wildcards.replicate),
        }

    def power_replicate_files(self, wildcards) -> list[str]:
        """Every replicate of the power analysis, design by design, effect by effect."""
        n = self.section("power")["replicates"]
        return [
            f"results/{wildcards.run}/design/power/{design}/{effect}/{r}.csv"
            for design in self.points()
            for effect in self.effects()
            for r in range(1, n + 1)
        ]

    def power_design_sizes(self, wildcards) -> dict:
        return {label: point.as_dict() for label, point in self.points().items()}

    def sbc_replicate_settings(self, wildcards) -> dict:
        sbc = self.section("sbc")
        return {
            **self.common(sbc["sampling"]),
            "design": sbc["design"],
            "draws_kept": sbc["draws_kept"],
            "replicate": int(wildcards.replicate),
        }

    def sbc_replicate_files(self, wildcards) -> list[str]:
        n = self.section("sbc")["replicates"]
        return [f"results/{wildcards.run}/design/sbc/{r}.csv" for r in range(1, n + 1)]

    def study2_values(self) -> dict[str, float]:
        """The Study 2 parameter values by wildcard label."""
        from .design_study2 import value_levels

        return value_levels(self.section("study2")["effects"])

    def study2_replicate_settings(self, wildcards) -> dict:
        """Params of one Study 2 replicate: the configured outcome model (design.study2.model, a
        model under `models:`) with the design's sampling, its parameter value and number."""
        from .config import model_settings

        study2, values = self.section("study2"), self.study2_values()
        if wildcards.effect not in values:
            raise ValueError(f"design.study2: no value '{wildcards.effect}' (values: {list(values)})")
        if study2["model"] not in self.config.get("models", {}):
            raise ValueError(
                f"design.study2.model: no model '{study2['model']}' under `models:` "
                f"(models: {sorted(self.config.get('models', {}))})"
            )
        model = model_settings(self.config, study2["model"])
        table = f"study2/intervals_{study2['outcome']}"
        if model["data"] != table:
            raise ValueError(
                f"design.study2.model: model '{study2['model']}' is fitted to '{model['data']}', "
                f"not to the {study2['outcome']} intervals ('{table}')"
            )
        design = self.config["design"]
        return {
            "model": {k: model[k] for k in ("formula", "family", "priors", "mass_matrix") if k in model},
            "sampling": {**design["sampling"], **study2["sampling"]},
            "gate": design["gate"],
            "simulation": study2["simulation"],
            "seed": self.master_seed(),
            "outcome": study2["outcome"],
            "centre": self.config["study2"]["baseline_centre"][study2["outcome"]],
            "exposure": study2["exposure"],
            "parameter": study2["parameter"],
            "effect": values[wildcards.effect],
            "effect_label": wildcards.effect,
            "replicate": int(wildcards.replicate),
        }

    def study2_replicate_files(self, wildcards) -> list[str]:
        """Every Study 2 replicate, value by value."""
        n = self.section("study2")["replicates"]
        return [
            f"results/{wildcards.run}/design/study2/{label}/{r}.csv"
            for label in self.study2_values()
            for r in range(1, n + 1)
        ]

    def setting(self, section: str, key: str):
        """Params function: one setting of design.<section>."""
        return lambda wildcards: self.section(section)[key]

    @staticmethod
    def mem_mb(wildcards, attempt) -> int:
        """Memory of a replicate fit (about 0.5 GB measured), growing with each retry."""
        return 1500 * attempt

    @staticmethod
    def runtime(wildcards, attempt) -> int:
        """Minutes of a replicate fit (under a minute measured at the default sizes), per retry."""
        return 20 * attempt

    def products(self, run: str) -> list[str]:
        """Tables and figures of the power analysis, the SBC and the Study 2 recovery of `run`; []
        without a `design:` section (a part with `replicates: 0` is left out)."""
        design = self.config.get("design")
        if not design:
            return []
        products = []
        if design["power"]["replicates"] > 0:
            products += [f"results/{run}/design/power/power.csv", f"results/{run}/design/power/power.png"]
        if design["sbc"]["replicates"] > 0:
            products += [f"results/{run}/design/sbc/sbc.csv", f"results/{run}/design/sbc/sbc.png"]
        if design["study2"]["replicates"] > 0:
            products += [f"results/{run}/design/study2/recovery.csv", f"results/{run}/design/study2/recovery.png"]
        return products


# ------------------------------------------------------------------------------- simulation


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
    from .clean import clean_study1
    from .features import study1_sessions
    from .simulate import simulate_study1
    from .validate import validate_tables

    tables, truth = simulate_study1(dict(params), seed=seed)
    tables = validate_tables("study1", tables)
    tables, _ = clean_study1(tables)
    data, scaling = study1_sessions(tables, dict(reference_levels or {}), list(centre))
    return data, truth, scaling


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


# ---------------------------------------------------------------------------------- fitting


def model_spec(name: str, settings: Mapping, seed: int):
    """ModelSpec of a design fit: formula and priors from `settings["model"]`, sampler settings
    from `settings["sampling"]`, gate from `settings["gate"]` (never fails the job: on_fail warn),
    group effects not kept (not needed)."""
    from .models import ModelSpec

    model = settings["model"]
    config = {
        "formula": model["formula"],
        "family": "bernoulli",
        **dict(settings.get("sampling") or {}),
        "seed": int(seed),
        "gate": {**dict(settings.get("gate") or {}), "on_fail": "warn"},
        "save_group_effects": False,
    }
    if model.get("priors"):
        config["priors"] = dict(model["priors"])
    if settings.get("reference_levels"):
        config["reference_levels"] = dict(settings["reference_levels"])
    return ModelSpec.from_config(name, config)


def _diagnostic_columns(diagnostics: Mapping) -> dict:
    return {
        "divergences": int(diagnostics["divergences"]),
        "max_rhat": float(diagnostics["max_rhat"]),
        "min_ess_bulk": float(diagnostics["min_ess_bulk"]),
    }


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


def power_replicate(settings: Mapping, threads: int = 1) -> pd.DataFrame:
    """Simulate and fit one power replicate; one row per model term (REPLICATE_COLUMNS).

    `settings` (a rule's params): model {formula, priors}, sampling, gate, simulation (simulator
    overrides), parameter (e.g. 'homework.or_caregiver_present'), design (a DesignPoint's dict),
    design_label, effect (the odds ratio), effect_label, replicate, seed (master), centre,
    reference_levels.
    """
    from .models import fit_model

    point = DesignPoint(**settings["design"])
    seeds = power_seeds(settings["seed"], settings["design_label"], settings["effect_label"], settings["replicate"])
    params = simulation_params(settings.get("simulation") or {}, point, settings["parameter"], settings["effect"])
    centre = list(settings.get("centre") or [])
    data, truth, scaling = simulate_analysis_table(
        params, seeds["simulation"], settings.get("reference_levels"), centre
    )
    spec = model_spec(f"power_{settings['design_label']}_{settings['effect_label']}", settings, seeds["sampler"])
    result = fit_model(data, spec, threads=threads)
    terms = list(result.summary["term"])
    omitted = omitted_effects(truth, terms)
    if omitted:
        log.warning("the model leaves out simulated non-zero effects %s: coverage may fall short of 95%%", omitted)
    rows = interval_rows(result.summary, true_values(truth, terms, scaling, centre))
    rows.insert(0, "design", settings["design_label"])
    rows.insert(1, "effect", float(settings["effect"]))
    rows.insert(2, "replicate", int(settings["replicate"]))
    for key, value in _diagnostic_columns(result.diagnostics).items():
        rows[key] = value
    rows["simulation_seed"] = seeds["simulation"]
    rows["sampler_seed"] = seeds["sampler"]
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


# ------------------------------------------------------------------------------ aggregation


def mcse(p: pd.Series, n: pd.Series) -> pd.Series:
    """Monte Carlo standard error of a proportion p estimated from n replicates."""
    return np.sqrt(p * (1 - p) / n)


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


def read_replicates(paths: Iterable[str]) -> pd.DataFrame:
    """Concatenate replicate CSVs (power or SBC) in the given order."""
    frames = [pd.read_csv(p) for p in paths]
    if not frames:
        raise ValueError("no replicate files")
    return pd.concat(frames, ignore_index=True)


def power_markdown(power: pd.DataFrame, term: str, parameter: str) -> str:
    """The power table as Markdown, rounded for reading."""
    shown = power.copy()
    for column in ("power", "power_mcse", "coverage", "coverage_mcse"):
        shown[column] = shown[column].round(3)
    for column in ("true_log_odds", "mean_estimate", "bias"):
        shown[column] = shown[column].round(3)
    head = (
        f"Power and 95% interval coverage of `{term}` (simulator parameter `{parameter}` = effect, an "
        "odds ratio). Power = share of replicates whose 95% interval excludes 0 (at OR 1: the "
        "false-positive rate); MCSE = Monte Carlo standard error.\n\n"
    )
    return head + shown.to_markdown(index=False)


def power_figure(power: pd.DataFrame, term: str, target: float = 0.8):
    """Power curves: x = effect (odds ratio, log axis), y = power, one line per design, with
    Monte Carlo standard errors; dashed line at `target`, dotted at 0.05."""
    from .figures.style import COLUMN_WIDTH, NEUTRAL, figure_style, new_figure, reference_line

    with figure_style():
        fig, ax = new_figure(COLUMN_WIDTH + 1.6, 2.4)
        for design, rows in power.groupby("design", sort=False):
            label = design
            if "n_sessions" in rows:
                label = f"{design} ({int(rows['n_sessions'].iloc[0])} sessions)"
            ax.errorbar(
                rows["effect"], rows["power"], yerr=rows["power_mcse"], marker="o", capsize=2, label=label
            )
        reference_line(ax, target, orientation="horizontal")
        ax.axhline(0.05, color=NEUTRAL, linewidth=0.6, linestyle=":", zorder=0)
        ax.set_xscale("log")
        effects = sorted(power["effect"].unique())
        ax.set_xticks(effects)
        ax.set_xticklabels([f"{e:g}" for e in effects])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"True odds ratio ({term})")
        ax.set_ylabel("Power (95% interval excludes OR 1)")
        ax.legend(title="Design: t therapists, c clients\nper therapist, s sessions per client",
                  loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


# ---------------------------------------------------------------------------------- SBC


def draw_prior(prior, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
    """Draws from a homeworkflow.models.spec.priors.Prior, parameterised exactly as PyMC does."""
    k = prior.kwargs
    if prior.dist == "normal":
        return rng.normal(k.get("mu", 0.0), k["sigma"], size)
    if prior.dist == "student_t":
        return k.get("mu", 0.0) + k["sigma"] * rng.standard_t(k["nu"], size)
    if prior.dist == "halfnormal":
        return np.abs(rng.normal(0.0, k["sigma"], size))
    if prior.dist == "halfstudent_t":
        return np.abs(k["sigma"] * rng.standard_t(k["nu"], size))
    if prior.dist == "exponential":
        return rng.exponential(1.0 / k["lam"], size)
    raise ValueError(f"cannot draw from prior {prior}")


@dataclass
class PriorDraw:
    """One draw of the model's parameters (internal, standardised scale) and the outcome it implies."""

    intercept_std: float
    b_std: np.ndarray
    sd_std: np.ndarray
    z: list[np.ndarray]
    y: np.ndarray

    def data_scale(self, design) -> dict[str, float]:
        """The draw as the model reports it: b_j = b*_j / s_j,
        Intercept = Intercept* - sum_j b*_j m_j / s_j, sd_k = sd*_k / (slope scale, 1 for intercepts)."""
        out = {"Intercept": float(self.intercept_std - np.sum(self.b_std * design.center / design.scale))}
        out.update({t: float(b / s) for t, b, s in zip(design.terms, self.b_std, design.scale)})
        out.update({e.label: float(sd / e.scale) for e, sd in zip(design.group_effects, self.sd_std)})
        return out


def draw_from_model(design, priors, rng: np.random.Generator) -> PriorDraw:
    """Parameters from the priors and an outcome from the bernoulli-logit model, given the design.

    Written out independently of the PyMC model (homeworkflow.models.backend.build), following its
    documented form: eta = Intercept* + X* b* + sum_k sd*_k z_k[level] (times the scaled slope
    column for varying slopes), z ~ N(0, 1), y ~ Bernoulli(logit^-1(eta)).
    """
    from scipy.special import expit

    intercept = float(draw_prior(priors.intercept, rng)) if design.has_intercept else 0.0
    b = np.array([draw_prior(p, rng) for p in priors.slopes], dtype=float)
    sd = np.array([draw_prior(p, rng) for p in priors.sds], dtype=float)
    z = [rng.standard_normal(len(e.levels)) for e in design.group_effects]
    eta = intercept + (design.X @ b if len(b) else 0.0)
    for effect, s, zk in zip(design.group_effects, sd, z):
        u = (s * zk)[effect.index]
        eta = eta + (u if effect.values is None else u * effect.values)
    y = (rng.random(design.n) < expit(eta)).astype(np.int64)
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
    from .models import fit_model
    from .models.spec.formula import build_design
    from .models.spec.priors import resolve_priors
    from .models.posterior.summaries import term_draws

    point = DesignPoint(**settings["design"])
    master, replicate = settings["seed"], int(settings["replicate"])
    seeds = sbc_seeds(master, replicate)
    params = simulation_params(settings.get("simulation") or {}, point)
    data, _, _ = simulate_analysis_table(
        params, seeds["simulation"], settings.get("reference_levels"), settings.get("centre") or []
    )
    spec = model_spec(f"sbc_{replicate}", settings, seeds["sampler"])
    design = build_design(data, spec.formula, spec.family, spec.reference_levels)
    if design.outcome != OUTCOME:
        raise ValueError(f"SBC needs a model of '{OUTCOME}', got outcome '{design.outcome}'")
    priors = resolve_priors(spec.family, spec.priors, design.terms, [e.label for e in design.group_effects])
    for redraw in range(MAX_PRIOR_REDRAWS + 1):
        prior_seed = sbc_seeds(master, replicate, redraw)["prior"]
        draw = draw_from_model(design, priors, np.random.default_rng(prior_seed))
        if 0 < draw.y.sum() < design.n:
            break
        log.info("replicate %d: prior draw %d gave a constant outcome; redrawing", replicate, redraw)
    else:
        raise RuntimeError(f"SBC replicate {replicate}: {MAX_PRIOR_REDRAWS + 1} prior draws all gave a constant outcome")
    data = data.copy()
    data[OUTCOME] = draw.y
    result = fit_model(data, spec, threads=threads)
    truths = draw.data_scale(design)
    draws = term_draws(result.idata.posterior)
    missing = sorted(set(truths) - set(draws.data_vars))
    if missing:
        raise RuntimeError(f"posterior lacks term(s) {missing}")
    ranks = sbc_ranks({t: draws[t].values for t in truths}, truths, int(settings["draws_kept"]))
    means = result.summary.set_index("term")["mean"]
    diag = _diagnostic_columns(result.diagnostics)
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


def sbc_markdown(table: pd.DataFrame, alpha: float) -> str:
    verdict = (
        "**No miscalibration detected**"
        if table["calibrated"].all()
        else "**MISCALIBRATION**: " + ", ".join(table.loc[~table["calibrated"], "term"])
    )
    shown = table.copy()
    for column in ("chi2", "chi2_p", "ks", "ks_p", "p_min", "p_bonferroni", "mean_rank_fraction"):
        shown[column] = shown[column].round(4)
    return (
        f"Simulation-based calibration: ranks of the true parameters among {int(table['n_draws'].iloc[0])} "
        f"thinned posterior draws, {int(table['replicates'].max())} replicates. Uniformity tests "
        f"(chi-square on bins, Kolmogorov-Smirnov), Bonferroni over {2 * len(table)} tests, "
        f"alpha {alpha:g}: {verdict} (every p_bonferroni > {alpha:g}).\n\n" + shown.to_markdown(index=False)
    )


def sbc_figure(ranks: pd.DataFrame, bins: int, level: float = 0.99):
    """Rank histograms, one panel per term, with the central `level` band of a bin count under
    uniformity (Binomial(replicates, 1/bins)) and its expectation (dashed)."""
    from scipy import stats

    from .figures.style import FULL_WIDTH, NEUTRAL, PALETTE, figure_style, new_figure

    terms = list(dict.fromkeys(ranks["term"]))
    n_draws = int(ranks["n_draws"].iloc[0])
    columns = min(3, len(terms))
    nrows = math.ceil(len(terms) / columns)
    with figure_style():
        fig, axes = new_figure(FULL_WIDTH, 1.5 * nrows + 0.3, nrows=nrows, ncols=columns, squeeze=False)
        for ax, term in zip(axes.flat, terms):
            part = ranks.loc[ranks["term"] == term, "rank"].to_numpy()
            counts = bin_counts(part, n_draws, bins)
            n = len(part)
            lo, hi = stats.binom.ppf([(1 - level) / 2, 1 - (1 - level) / 2], n, 1 / bins)
            ax.axhspan(lo, hi, color=NEUTRAL, alpha=0.15, linewidth=0)
            ax.axhline(n / bins, color=NEUTRAL, linewidth=0.8, linestyle="--")
            ax.bar(np.arange(bins), counts, width=0.9, color=PALETTE[0])
            ax.set_title(term)
            ax.set_xticks([-0.45, bins - 0.55])
            ax.set_xticklabels(["0", str(n_draws)])
        for ax in list(axes.flat)[len(terms) :]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("Replicates")
        for ax in axes[-1, :]:
            ax.set_xlabel("Rank of the truth")
        fig.suptitle(
            f"SBC rank histograms: {n} replicates, {bins} bins; grey band: {level:.0%} range under uniformity",
            fontsize=8,
        )
    return fig
