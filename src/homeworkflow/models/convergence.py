"""Rank-normalised split R-hat, bulk ESS and tail ESS for many parameters at once.

The same estimators as ArviZ's `rhat`, `ess(method="bulk")` and `ess(method="tail")` (Vehtari et
al. 2021, arXiv:1903.08008), equal to them to floating-point rounding (tests/test_convergence.py),
but computed for every parameter in one pass of array operations: ArviZ loops over parameters in
Python, which took 2-4 s of every model job with a few hundred group-level effects.

Every function takes draws shaped (chain, draw, parameter) and returns one value per parameter;
NaN where ArviZ gives NaN (a parameter with a NaN draw; R-hat with one chain; fewer than 4 draws).
"""

from __future__ import annotations

import numpy as np
from scipy.fft import next_fast_len
from scipy.stats import norm, rankdata

MIN_DRAWS = 4
TAIL_PROBS = (0.05, 0.95)


def rhat(draws: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat: the larger of the bulk and the folded (tail) R-hat."""
    draws = _as_3d(draws)
    if draws.shape[0] < 2 or draws.shape[1] < MIN_DRAWS:
        return np.full(draws.shape[2], np.nan)
    split = _split_chains(draws)
    folded = np.abs(split - np.median(split.reshape(-1, split.shape[2]), axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.maximum(_rhat(_z_scale(split)), _rhat(_z_scale(folded)))
    return _nan_where_invalid(value, draws)


def ess_bulk(draws: np.ndarray) -> np.ndarray:
    """Bulk effective sample size: ESS of the rank-normalised split chains."""
    draws = _as_3d(draws)
    if draws.shape[1] < MIN_DRAWS:
        return np.full(draws.shape[2], np.nan)
    return _nan_where_invalid(_ess(_z_scale(_split_chains(draws))), draws)


def ess_tail(draws: np.ndarray) -> np.ndarray:
    """Tail effective sample size: the smaller ESS of the 5% and 95% quantile indicators."""
    draws = _as_3d(draws)
    if draws.shape[1] < MIN_DRAWS:
        return np.full(draws.shape[2], np.nan)
    flat = draws.reshape(-1, draws.shape[2])
    with np.errstate(invalid="ignore"):
        quantiles = np.quantile(flat, TAIL_PROBS, axis=0)
    value = np.minimum(
        *(_ess(_split_chains((draws <= q).astype(float))) for q in quantiles),
    )
    return _nan_where_invalid(value, draws)


def _as_3d(draws) -> np.ndarray:
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 2:
        draws = draws[:, :, np.newaxis]
    if draws.ndim != 3:
        raise ValueError(f"draws must be shaped (chain, draw, parameter), got shape {draws.shape}")
    return draws


def _nan_where_invalid(value: np.ndarray, draws: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(draws).any(axis=(0, 1)), np.nan, value)


def _split_chains(draws: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as two chains (the middle draw of an odd count is dropped)."""
    half = draws.shape[1] // 2
    return np.concatenate([draws[:, :half], draws[:, draws.shape[1] - half :]], axis=0)


def _z_scale(draws: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over all chains and draws (Blom's offset 3/8)."""
    flat = draws.reshape(-1, draws.shape[2])
    ranks = rankdata(flat, method="average", axis=0)
    return norm.ppf((ranks - 3 / 8) / (flat.shape[0] + 1 / 4)).reshape(draws.shape)


def _rhat(draws: np.ndarray) -> np.ndarray:
    n_draw = draws.shape[1]
    between = n_draw * draws.mean(axis=1).var(axis=0, ddof=1)
    within = draws.var(axis=1, ddof=1).mean(axis=0)
    return np.sqrt((between / within + n_draw - 1) / n_draw)


def _autocov(draws: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain at every lag, by FFT (axis 1)."""
    n_draw = draws.shape[1]
    centred = draws - draws.mean(axis=1, keepdims=True)
    size = next_fast_len(2 * n_draw)
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    spectrum *= np.conjugate(spectrum)
    return np.fft.irfft(spectrum, n=size, axis=1)[:, :n_draw] / n_draw


def _ess(draws: np.ndarray) -> np.ndarray:
    """ESS of (chain, draw, parameter) draws with Geyer's initial monotone sequence."""
    n_chain, n_draw, _ = draws.shape
    total = n_chain * n_draw
    constant = (draws.max(axis=(0, 1)) - draws.min(axis=(0, 1))) < np.finfo(float).resolution
    acov_mean = _autocov(draws).mean(axis=0)  # (lag, parameter)
    mean_var = acov_mean[0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + draws.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var - acov_mean) / var_plus
    rho[0] = 1.0

    # Pair sums rho[2k] + rho[2k+1]; Geyer's initial positive sequence reads pairs 1..k_max.
    k_max = max((n_draw - 3) // 2, 0)
    pairs = rho[0 : 2 * k_max + 1 : 2] + rho[1 : 2 * k_max + 2 : 2]
    stops = np.vstack([pairs[1:] <= 0, np.ones((1, pairs.shape[1]), dtype=bool)])
    first_stop = np.minimum(stops.argmax(axis=0) + 1, k_max)
    k_last = np.where(pairs[0] > 0, first_stop, 0)  # the last pair read; pairs before it are kept

    # Initial monotone sequence: each kept pair sum is at most the one before it.
    monotone = np.minimum.accumulate(pairs, axis=0)
    kept = np.arange(len(pairs))[:, np.newaxis] < k_last
    kept_sum = np.where(kept, monotone, 0.0).sum(axis=0)
    columns = np.arange(rho.shape[1])
    last_even = np.where(k_last > 0, rho[2 * k_last, columns], 1.0)
    last_pair_kept = (k_last == 0) | (pairs[k_last, columns] >= 0)
    last = np.where(last_pair_kept, last_even, np.maximum(last_even, 0.0))

    tau = np.maximum(-1.0 + 2.0 * kept_sum + last, 1 / np.log10(total))
    return np.where(constant, float(total), total / tau)
