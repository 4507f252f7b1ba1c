"""Prior specifications: defaults and per-term overrides from the config.

Priors act on the model's internal scale: predictors standardised (mean 0, SD 1) and, for the
gaussian family, the outcome standardised too. See docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelSpecError

# distribution -> (required parameters, optional parameters with defaults)
DISTRIBUTIONS = {
    "normal": (("sigma",), {"mu": 0.0}),
    "student_t": (("nu", "sigma"), {"mu": 0.0}),
    "halfnormal": (("sigma",), {}),
    "halfstudent_t": (("nu", "sigma"), {}),
    "exponential": (("lam",), {}),
}
LOCATION_DISTS = {"normal", "student_t"}
SCALE_DISTS = {"halfnormal", "halfstudent_t", "exponential"}


@dataclass(frozen=True)
class Prior:
    """A named distribution with its parameters (hashable, so equal priors can share a vector)."""

    dist: str
    params: tuple[tuple[str, float], ...]

    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.dist}({args})"


def make_prior(dist: str, **params: float) -> Prior:
    return Prior(dist, tuple(sorted(params.items())))


def default_priors(family: str) -> dict[str, Prior]:
    """Weakly informative defaults on the internal (standardised) scale."""
    sd_scale = 2.5 if family == "bernoulli" else 1.0
    priors = {
        "Intercept": make_prior("normal", mu=0.0, sigma=2.5),
        "b": make_prior("normal", mu=0.0, sigma=2.5),
        "sd": make_prior("halfnormal", sigma=sd_scale),
    }
    if family == "gaussian":
        priors["sigma"] = make_prior("halfnormal", sigma=1.0)
    return priors


def is_scale_key(key: str) -> bool:
    """True for keys that name a standard deviation (need a positive distribution)."""
    return key in ("sd", "sigma") or key.startswith("sd(")


def parse_prior(key: str, entry: object) -> Prior:
    """Validate one config entry like {"dist": "normal", "sigma": 2.5}."""
    if not isinstance(entry, dict) or "dist" not in entry:
        raise ModelSpecError(f"prior '{key}': expected a mapping with a 'dist' key, got {entry!r}")
    params = {k: v for k, v in entry.items() if k != "dist"}
    dist = str(entry["dist"]).lower()
    if dist not in DISTRIBUTIONS:
        raise ModelSpecError(f"prior '{key}': unknown dist '{dist}'; use one of {sorted(DISTRIBUTIONS)}")
    allowed = SCALE_DISTS if is_scale_key(key) else LOCATION_DISTS
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


def resolve_priors(
    family: str,
    overrides: dict[str, Prior],
    slope_terms: list[str],
    sd_terms: list[str],
) -> ResolvedPriors:
    """Combine defaults and overrides; an override naming no parameter of the model is an error."""
    known = {"Intercept", "b", "sd", *slope_terms, *sd_terms}
    if family == "gaussian":
        known.add("sigma")
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ModelSpecError(
            f"priors given for {unknown}, which name no parameter of this model; " f"known: {sorted(known)}"
        )
    priors = {**default_priors(family), **overrides}
    return ResolvedPriors(
        intercept=priors["Intercept"],
        slopes=[priors.get(term, priors["b"]) for term in slope_terms],
        sds=[priors.get(term, priors["sd"]) for term in sd_terms],
        sigma=priors.get("sigma"),
    )
