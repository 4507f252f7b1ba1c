"""Prior specifications: defaults and per-term overrides from the config.

Priors act on the model's internal scale: predictors standardised (mean 0, SD 1) and, for the
gaussian and student families, the outcome standardised too. Each family's defaults are its own
(models/spec/families.py). See docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ModelSpecError
from .families import FAMILY_PARAMETER_NAMES, get_family
from .prior import Prior, make_prior

# distribution -> (required parameters, optional parameters with defaults)
DISTRIBUTIONS = {
    "normal": (("sigma",), {"mu": 0.0}),
    "student_t": (("nu", "sigma"), {"mu": 0.0}),
    "halfnormal": (("sigma",), {}),
    "halfstudent_t": (("nu", "sigma"), {}),
    "exponential": (("lam",), {}),
    "gamma": (("alpha", "beta"), {}),
    "lkj": (("eta",), {}),
}
LOCATION_DISTS = {"normal", "student_t"}
SCALE_DISTS = {"halfnormal", "halfstudent_t", "exponential", "gamma"}
CORRELATION_DISTS = {"lkj"}

DEFAULT_CORRELATION = make_prior("lkj", eta=1.0)


def default_priors(family) -> dict[str, Prior]:
    """Weakly informative defaults on the internal (standardised) scale: the family's (a name or a
    families.Family)."""
    return get_family(family).default_priors()


def is_scale_key(key: str) -> bool:
    """True for keys that name a standard deviation or another positive family parameter."""
    return key in ("sd", *FAMILY_PARAMETER_NAMES) or key.startswith("sd(")


def is_correlation_key(key: str) -> bool:
    """True for `cor` (every correlated bar) and `cor(g)` (the bars over factor g)."""
    return key == "cor" or key.startswith("cor(")


def parse_prior(key: str, entry: object) -> Prior:
    """Validate one config entry like {"dist": "normal", "sigma": 2.5}."""
    if not isinstance(entry, dict) or "dist" not in entry:
        raise ModelSpecError(f"prior '{key}': expected a mapping with a 'dist' key, got {entry!r}")
    params = {k: v for k, v in entry.items() if k != "dist"}
    dist = str(entry["dist"]).lower()
    if dist not in DISTRIBUTIONS:
        raise ModelSpecError(f"prior '{key}': unknown dist '{dist}'; use one of {sorted(DISTRIBUTIONS)}")
    allowed = (
        CORRELATION_DISTS if is_correlation_key(key) else SCALE_DISTS if is_scale_key(key) else LOCATION_DISTS
    )
    if dist not in allowed:
        raise ModelSpecError(f"prior '{key}': dist '{dist}' not allowed here; use one of {sorted(allowed)}")
    required, optional = DISTRIBUTIONS[dist]
    unknown = set(params) - set(required) - set(optional)
    if unknown:
        raise ModelSpecError(f"prior '{key}': unknown parameter(s) {sorted(unknown)} for '{dist}'")
    missing = [p for p in required if p not in params]
    if missing:
        raise ModelSpecError(f"prior '{key}': '{dist}' needs parameter(s) {missing}")
    values = {**optional, **params}
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ModelSpecError(f"prior '{key}': parameter '{name}' must be a number, got {value!r}")
        if name != "mu" and value <= 0:
            raise ModelSpecError(f"prior '{key}': parameter '{name}' must be positive, got {value}")
    return make_prior(dist, **{k: float(v) for k, v in values.items()})


def parse_priors(entries: object) -> dict[str, Prior]:
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise ModelSpecError(f"'priors' must be a mapping of term -> prior, got {type(entries).__name__}")
    return {str(key): parse_prior(str(key), entry) for key, entry in entries.items()}


@dataclass(frozen=True)
class ResolvedPriors:
    """The prior for every parameter of one model, after applying overrides to defaults."""

    intercept: Prior
    slopes: list[Prior]
    sds: list[Prior]
    sigma: Prior | None
    family: dict[str, Prior] = field(default_factory=dict)  # the family's parameters by name
    cors: list[Prior] = field(default_factory=list)  # LKJ prior per correlation block


def resolve_priors(
    family,
    overrides: dict[str, Prior],
    slope_terms: list[str],
    sd_terms: list[str],
    cor_groups: list[str] = (),
) -> ResolvedPriors:
    """Combine defaults and overrides; an override naming no parameter of the model is an error.
    `family`: a name or a families.Family; `cor_groups`: the factor of each correlation block
    (keys `cor` and `cor(<factor>)`, default LKJ(1) as brms's `lkj(1)`)."""
    family = get_family(family)
    known = {"Intercept", "b", "sd", *slope_terms, *sd_terms, *(p.name for p in family.parameters)}
    known |= {"cor", *(f"cor({group})" for group in cor_groups)} if cor_groups else set()
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ModelSpecError(
            f"priors given for {unknown}, which name no parameter of this model; " f"known: {sorted(known)}"
        )
    priors = {**family.default_priors(), **overrides}
    return ResolvedPriors(
        intercept=priors["Intercept"],
        slopes=[priors.get(term, priors["b"]) for term in slope_terms],
        sds=[priors.get(term, priors["sd"]) for term in sd_terms],
        sigma=priors.get("sigma"),
        family={p.name: priors[p.name] for p in family.parameters},
        cors=[priors.get(f"cor({group})", priors.get("cor", DEFAULT_CORRELATION)) for group in cor_groups],
    )


def draw_prior(prior: Prior, rng, size: int | None = None):
    """Draws from `prior` with a numpy Generator, parameterised exactly as the PyMC model's
    distribution of the same name (simulation-based calibration draws its truths here)."""
    k = prior.kwargs
    if prior.dist == "normal":
        return rng.normal(k.get("mu", 0.0), k["sigma"], size)
    if prior.dist == "student_t":
        return k.get("mu", 0.0) + k["sigma"] * rng.standard_t(k["nu"], size)
    if prior.dist == "halfnormal":
        return abs(rng.normal(0.0, k["sigma"], size))
    if prior.dist == "halfstudent_t":
        return abs(k["sigma"] * rng.standard_t(k["nu"], size))
    if prior.dist == "exponential":
        return rng.exponential(1.0 / k["lam"], size)
    if prior.dist == "gamma":
        return rng.gamma(k["alpha"], 1.0 / k["beta"], size)
    raise ValueError(f"cannot draw from prior {prior}")
