"""A numba digamma that numba can cache on disk, for PyTensor's `Psi` scalar Op.

PyTensor's numba backend runs `Psi` (digamma, in the gradients of the student, negbinomial and
beta likelihoods) through scipy's Cython function by pointer, and a numba function that calls a
pointer cannot be cached: the whole log-density function of those models was then compiled
afresh in every job (6 s of sleepstudy_student's warm job, bench/README.md). This implementation
is plain numba: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic
series to x^-14 (truncation error below 1e-16), and the reflection formula for x < 0. It agrees
with scipy.special.psi to 1e-13 relative for x > 0 (1e-11 for x < 0, near the poles) (tests/test_digamma.py). Registering it for `Psi`
takes effect when this module is imported (backend/build.py does).
"""

from __future__ import annotations

import math

import numpy as np
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.link.numba.dispatch.scalar import scalar_op_cache_key
from pytensor.scalar.math import Psi

VERSION = 1  # bump when the kernel changes, so cached compilations are not reused

# B_2k / (2k) for k = 1..7: psi(x) ~ log(x) - 1/(2x) - sum_k B_2k / (2k x^2k)
_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


@numba_basic.numba_njit
def digamma(x: float) -> float:
    """psi(x) for real x; at the poles as scipy: -inf at 0, NaN at the negative integers."""
    if x == 0.0:
        return -np.inf
    if np.isnan(x) or (x < 0.0 and x == math.floor(x)):
        return np.nan
    shift = 0.0
    if x < 0.0:  # reflection: psi(x) = psi(1 - x) - pi / tan(pi x)
        shift = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    inverse_square = 1.0 / (x * x)
    series = 0.0
    for coefficient in _SERIES[::-1]:
        series = series * inverse_square + coefficient
    return shift + math.log(x) - 0.5 / x - series * inverse_square


@register_funcify_and_cache_key(Psi)
def _numba_psi(op, node=None, **kwargs):
    return digamma, scalar_op_cache_key(op, homeworkflow_digamma=VERSION)
