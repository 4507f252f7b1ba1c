"""The LKJ prior on the Cholesky factor of a correlation matrix, for correlated group effects.

The random variable is the vector of the factor's strictly lower entries, row by row
(L[1,0], L[2,0], L[2,1], ...); the diagonal follows from unit rows, L[i,i] = sqrt(1 - sum_j L[i,j]^2).
Unconstrained, each entry is a canonical partial correlation tanh(y) (Stan's
`cholesky_factor_corr` transform), so every point the sampler visits is a valid correlation
matrix, whatever its size. PyMC 5.28's `LKJCorr` maps each correlation to (-1, 1) on its own, which
leaves non-positive-definite matrices in the sampler's space from three terms on, and
`LKJCholeskyCov` draws the SDs itself, so they could not keep their per-term priors.

The helpers below work alike on PyTensor tensors and on NumPy or xarray draws: an "entries" list
holds one tensor or array per strictly lower entry, any draw axes included.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.multivariate import _lkj_normalizing_constant
from pymc.logprob.transforms import Transform


def n_entries(n: int) -> int:
    """Strictly lower entries of an n x n Cholesky factor (= correlations of n terms)."""
    return n * (n - 1) // 2


def cholesky_rows(entries: list, n: int) -> list[list]:
    """The factor's rows (row i holds columns 0..i) from its strictly lower entries."""
    rows, k = [[1.0]], 0
    for i in range(1, n):
        row = list(entries[k : k + i])
        k += i
        squares = row[0] ** 2
        for value in row[1:]:
            squares = squares + value**2
        rows.append([*row, (1.0 - squares) ** 0.5])
    return rows


def correlation_pairs(n: int) -> list[tuple[int, int]]:
    """(i, j) with i < j in brms's order: (0, 1), (0, 2), ..., (1, 2), ..."""
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def correlations(rows: list[list]) -> list:
    """Omega[i, j] = sum_k L[i, k] L[j, k] for each pair of `correlation_pairs`."""
    out = []
    for i, j in correlation_pairs(len(rows)):
        total = rows[i][0] * rows[j][0]
        for k in range(1, i + 1):
            total = total + rows[i][k] * rows[j][k]
        out.append(total)
    return out


def _partial_correlations(entries: list, n: int) -> tuple[list, list]:
    """Canonical partial correlations of the entries, and for each entry 1 - (sum of squares
    of the entries before it in its row)."""
    partials, remaining, k = [], [], 0
    for i in range(1, n):
        squares = 0.0
        for _ in range(i):
            remaining.append(1.0 - squares)
            partials.append(entries[k] / (1.0 - squares) ** 0.5)
            squares = squares + entries[k] ** 2
            k += 1
    return partials, remaining


def lkj_cholesky(name: str, n: int, eta: float):
    """A PyMC random variable: the strictly lower entries of an n x n correlation Cholesky
    factor L with Omega = L L^T ~ LKJ(eta) (call inside a model)."""
    size = n_entries(n)
    eta = float(eta)

    def logp(value, eta_):
        """Stan's lkj_corr_cholesky: sum_{i>=1} (n - i - 1 + 2 (eta - 1)) log L[i, i], normalised."""
        rows = cholesky_rows([value[k] for k in range(size)], n)
        log_density = _lkj_normalizing_constant(eta, n)
        for i in range(1, n):
            log_density = log_density + (n - i - 1 + 2.0 * (eta - 1.0)) * pt.log(rows[i][i])
        return log_density

    def random_graph(eta_, size):
        corr = pm.LKJCorr.dist(n=n, eta=eta_, return_matrix=True, size=size)
        lower = pt.linalg.cholesky(corr)
        rows, cols = np.tril_indices(n, k=-1)
        return lower[..., rows, cols]

    return pm.CustomDist(
        name,
        eta,
        dist=random_graph,
        logp=logp,
        transform=CholeskyCorrTransform(n),
        signature="()->(k)",
        shape=(size,),
    )


class CholeskyCorrTransform(Transform):
    """Unconstrained vector -> strictly lower entries of a correlation Cholesky factor (Stan's
    `cholesky_corr_constrain`): partial correlations tanh(y), each entry its partial correlation
    times the length left in its row."""

    name = "choleskycorr"  # no underscore: PyMC strips "_<name>__" to find the variable

    def __init__(self, n: int):
        self.n = n
        self.size = n_entries(n)

    def backward(self, value, *inputs):
        partials = pt.tanh(value)
        entries, k = [], 0
        for i in range(1, self.n):
            squares = 0.0
            for _ in range(i):
                entry = partials[..., k] * (1.0 - squares) ** 0.5
                squares = squares + entry**2
                entries.append(entry)
                k += 1
        return pt.stack(entries, axis=-1)

    def forward(self, value, *inputs):
        partials, _ = _partial_correlations([value[..., k] for k in range(self.size)], self.n)
        return pt.arctanh(pt.stack(partials, axis=-1))

    def log_jac_det(self, value, *inputs):
        """log|d entries / d y|: sum log(1 - tanh(y)^2) + sum 0.5 log(1 - squares before each entry)."""
        entries = self.backward(value)
        _, remaining = _partial_correlations([entries[..., k] for k in range(self.size)], self.n)
        magnitude = pt.abs(value)  # log(1 - tanh(y)^2) = 2 (log 2 - |y| - log(1 + e^(-2|y|)))
        log_det = pt.sum(2.0 * (np.log(2.0) - magnitude - pt.log1p(pt.exp(-2.0 * magnitude))), axis=-1)
        for rest in remaining:
            if not isinstance(rest, float):
                log_det = log_det + 0.5 * pt.log(rest)
        return log_det
