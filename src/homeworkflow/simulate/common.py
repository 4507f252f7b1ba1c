"""The machinery both simulators share: parameter merging and checks, allocation of units to
parents, identifiers, exact shares and calibration of intercepts to target rates."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

# Calibrations average over at most this many evenly spaced rows: exact enough, fast at 1e6.
CALIBRATION_ROWS = 100_000
# Logistic calibrations pool the linear predictor into this many bins when there are more rows.
LOGISTIC_BINS = 4096
# Gauss-Hermite nodes for integrating a normal random intercept out of a logistic model.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_GH_WEIGHTS = _GH_WEIGHTS / math.sqrt(2.0 * math.pi)


def resolve_params(defaults: dict, params: dict | None, study: str) -> dict:
    """Defaults overridden by a partial `params` dict; an unknown key raises ValueError naming it."""
    merged = copy.deepcopy(defaults)
    for key, value in (params or {}).items():
        if key not in defaults:
            raise ValueError(
                f"unknown {study} parameter {key!r}; known sections: {', '.join(defaults)}"
            )
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"{study} parameter {key!r} must be a mapping of its sub-keys")
            for sub, sub_value in value.items():
                if sub not in defaults[key]:
                    raise ValueError(
                        f"unknown {study} parameter '{key}.{sub}'; "
                        f"known in {key!r}: {', '.join(defaults[key])}"
                    )
                merged[key][sub] = sub_value
        else:
            merged[key] = value
    return merged


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless condition holds (parameter checks)."""
    if not condition:
        raise ValueError(message)


def check_probability(value: float, name: str, *, open_interval: bool = False) -> float:
    value = float(value)
    if open_interval:
        require(0.0 < value < 1.0, f"{name} must lie strictly between 0 and 1, got {value}")
    else:
        require(0.0 <= value <= 1.0, f"{name} must lie in [0, 1], got {value}")
    return value


def allocate(
    rng: np.random.Generator,
    total: int,
    n: int,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    concentration: float = 1.0,
    what: str = "units",
) -> np.ndarray:
    """Split `total` children over `n` parents unevenly: each gets `minimum`..`maximum`.

    The rest above the minimum goes out multinomially with Gamma(concentration) weights (smaller
    concentration = more uneven); whatever exceeds a cap is handed on to parents with room.
    """
    require(n >= 1, f"need at least one parent to allocate {what} to")
    require(
        total >= n * minimum, f"{total} {what} cannot give each of {n} parents at least {minimum}"
    )
    if maximum is not None:
        require(
            total <= n * maximum,
            f"{total} {what} cannot fit {n} parents with at most {maximum} each",
        )
    require(concentration > 0, f"allocation concentration for {what} must be positive")
    weights = rng.gamma(concentration, size=n)
    weights /= weights.sum()
    counts = minimum + rng.multinomial(total - n * minimum, weights)
    if maximum is not None:
        excess = int(np.clip(counts - maximum, 0, None).sum())
        np.minimum(counts, maximum, out=counts)
        while excess > 0:
            room = maximum - counts
            open_ = np.flatnonzero(room > 0)
            extra = rng.multinomial(excess, weights[open_] / weights[open_].sum())
            extra = np.minimum(extra, room[open_])
            counts[open_] += extra
            excess -= int(extra.sum())
    return counts.astype(np.int64)


def make_ids(prefix: str, n: int, width: int) -> pd.api.extensions.ExtensionArray:
    """'T001', 'T002', ... as a pandas string array (`.take(index)` to repeat them per child row);
    zero-padded to `width` digits, wider when n needs it."""
    width = max(width, len(str(n)))
    return pd.array(
        prefix + pd.Series(np.arange(1, n + 1)).astype("str").str.zfill(width), dtype="str"
    )


def labels(levels: tuple[str, ...], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Category labels as a pandas string array, from integer codes into `levels`."""
    return pd.array(list(levels), dtype="str").take(codes)


def draw_categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category index per row of a (rows x categories) matrix of (unnormalised) probabilities."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities)) * cumulative[:, -1]
    index = (cumulative <= u[:, None]).sum(axis=1)
    return np.minimum(index, probabilities.shape[1] - 1)


def exact_shares(rng: np.random.Generator, n: int, shares: np.ndarray) -> np.ndarray:
    """n category codes whose counts match `shares` as closely as whole numbers allow (largest
    remainder), in random order: a stated sample composition is hit, not just expected."""
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    counts = np.floor(shares * n).astype(np.int64)
    remainder = shares * n - counts
    counts[np.argsort(-remainder, kind="stable")[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def exact_flags(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """n booleans, round(share * n) of them True, in random order."""
    return exact_shares(rng, n, [1.0 - share, share]) == 1


def calibration_rows(n: int) -> np.ndarray:
    """Evenly spaced row indices used to evaluate calibration targets (all rows when few)."""
    if n <= CALIBRATION_ROWS:
        return np.arange(n)
    return np.linspace(0, n - 1, CALIBRATION_ROWS).round().astype(np.int64)


def solve_monotone(func: Callable[[float], float], lower: float, upper: float, what: str) -> float:
    """Root of an increasing or decreasing func on [lower, upper], or ValueError if none."""
    f_lower, f_upper = func(lower), func(upper)
    require(
        f_lower * f_upper <= 0,
        f"cannot calibrate {what}: the target is out of reach with these parameters",
    )
    if f_lower == 0:
        return lower
    if f_upper == 0:
        return upper
    return float(brentq(func, lower, upper, xtol=1e-12, rtol=1e-12, maxiter=200))


def marginal_logistic_mean(linear: np.ndarray, sd: float) -> Callable[[float], float]:
    """intercept -> mean over rows of P(y=1), a N(0, sd^2) random intercept integrated out.

    Rows are pooled into narrow bins of the linear predictor (each at its bin's mean), so one
    evaluation costs the same at 1e3 and 1e6 rows; the pooling error is far below 1e-6.
    """
    values, weights = np.asarray(linear, dtype=float), None
    if len(values) > LOGISTIC_BINS and np.ptp(values) > 0:
        counts, edges = np.histogram(values, bins=LOGISTIC_BINS)
        sums, _ = np.histogram(values, bins=edges, weights=values)
        filled = counts > 0
        values, weights = sums[filled] / counts[filled], counts[filled] / counts.sum()
    spread = sd * _GH_NODES

    def mean(intercept: float) -> float:
        probability = expit(intercept + values[:, None] + spread[None, :]) @ _GH_WEIGHTS
        return float(np.average(probability, weights=weights))

    return mean


def calibrate_logistic_intercept(linear: np.ndarray, sd: float, target: float, what: str) -> float:
    """Intercept making the marginal rate (random intercept of SD `sd` integrated out) = target."""
    mean = marginal_logistic_mean(linear, sd)
    return solve_monotone(lambda b: mean(b) - target, -40.0, 40.0, what)


def jsonable(value: Any) -> Any:
    """Numpy scalars and arrays, tuples and nested dicts turned into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value

