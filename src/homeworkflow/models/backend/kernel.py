"""One numba kernel for the log density (and its gradient) of every model `build.build_model` builds.

PyTensor compiles a new numba function for each model's graph (15-30 s on a model's first fit).
Here the model's structure and data travel as two flat arrays instead (`pack`): `idata` (int64),
whose header gives the layout, and `fdata` (float64). `logp_and_grad(x, grad, fdata, idata)` is
compiled once per machine (`cache=True`) and reads everything it needs from them; its value and
gradient are PyMC's `model.compile_logp(jacobian=True)` and `compile_dlogp(jacobian=True)` at the
unconstrained point `x`, laid out as `model.value_vars` (nutpie's order), normalising constants
included. The gradient is written by hand, in reverse mode.

Layout (offsets are into idata "I" or fdata "F"; all from the header `idata[:HEADER]`):
- per element i of x: I[ELEM + 2 i] = transform code, I[ELEM + 2 i + 1] = prior code;
  F[PRIOR + 5 i : PRIOR + 5 i + 5] = the prior's parameters (p0, p1, p2), its constant term and the
  transform's lower bound.
- X: F[X : X + n p], row-major; y: F[Y : Y + n]; trials: F[TRIALS : TRIALS + n].
- I[BETA + j]: the position in x of slope j; effects: I[EFFECTS + 8 k : ...] (see `E_*`);
  blocks: I[BLOCK_TABLE + 4 b : ...] (see `B_*`).

Precision: the kernel computes in float64 throughout. PyMC's own graph folds parameters that
float32 represents exactly (2.5, 1.0, log(2) of HalfStudentT) in float32: its log density is up to
about 1e-7 off (a constant) and a student_t prior's gradient 2e-8 relative; its C digamma (the
default backend) about 1e-8. tests/test_kernel.py therefore builds its reference under
`autocast_float_as("float64")` and evaluates it in FAST_COMPILE mode, where the two agree to 1e-9.

Timing (2 shared cores; guimmun, bernoulli, 2,159 observations, 1,774 parameters): compiling this
module once, about 10 s (then 0.03 s from numba's cache, in every process, for every model);
one call 83-90 us, PyTensor's numba function of the same model 70-95 us through its Python call,
compiled in 7.3 s (cold) per model.

nutpie samples every formula model on it through `c_callbacks` (`nutpie_kernel`,
`sampling.kernel_sample`).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numba
import numpy as np
from numba import types
from nutpie.compile_pymc import address_as_void_pointer

from ..spec.families import _OPEN_END, _TINY, get_family
from ..spec.formula import Design
from ..spec.priors import Prior, ResolvedPriors

VERSION = 1

# family codes
BERNOULLI, BINOMIAL, CUMULATIVE, BETA, POISSON, NEGBINOMIAL, GAUSSIAN, STUDENT = range(8)
FAMILY_CODES = {
    "bernoulli": BERNOULLI,
    "binomial": BINOMIAL,
    "cumulative": CUMULATIVE,
    "beta": BETA,
    "poisson": POISSON,
    "negbinomial": NEGBINOMIAL,
    "gaussian": GAUSSIAN,
    "student": STUDENT,
}
# transform codes: identity, log, interval (lower bound only), ordered (continuation: the element
# before plus exp(x)), cholesky-corr (handled per block), ordered (first element: identity)
T_IDENTITY, T_LOG, T_LOWER, T_ORDERED, T_CHOLESKY, T_ORDERED_FIRST = range(6)
# prior codes (P_NONE: the element's density is added elsewhere: centred effects, LKJ blocks)
P_NONE, P_NORMAL, P_STUDENT_T, P_HALFNORMAL, P_HALFSTUDENT_T, P_EXPONENTIAL, P_GAMMA = range(7)
PRIOR_CODES = {
    "normal": P_NORMAL,
    "student_t": P_STUDENT_T,
    "halfnormal": P_HALFNORMAL,
    "halfstudent_t": P_HALFSTUDENT_T,
    "exponential": P_EXPONENTIAL,
    "gamma": P_GAMMA,
}

# header slots of idata
(
    H_FAMILY,
    H_N,
    H_P,
    H_DIM,
    H_K,
    H_BLOCKS,
    H_INTERCEPT,  # position of Intercept_std in x, -1 without
    H_ELEM,
    H_PRIOR,
    H_X,
    H_Y,
    H_TRIALS,
    H_BETA,
    H_EFFECTS,
    H_BLOCK_TABLE,
    H_SIGMA,  # position of sigma_std, -1 without
    H_NU,
    H_AUX,  # shape (negbinomial) or phi (beta)
    H_THRESHOLDS,
    H_N_THRESHOLDS,
    H_SCALARS,  # F: y_center, y_scale, constant of the likelihood
    H_LEVELS,  # total levels over all effects (scratch size)
) = range(22)
HEADER = 24
# per effect in I[EFFECTS + 8 k]
E_INDEX, E_LEVELS, E_POS, E_SD, E_CENTRED, E_VALUES, E_R, E_BLOCK = range(8)
EFFECT_STRIDE = 8
# per block in I[BLOCKS + 4 b]
B_SIZE, B_POS, B_MEMBERS, B_LKJ = range(4)
BLOCK_STRIDE = 4
PRIOR_STRIDE = 5

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class Packed:
    """A model for `logp_and_grad`: its float and integer arrays and the length of x."""

    fdata: np.ndarray
    idata: np.ndarray
    n_dim: int

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        grad = np.empty(self.n_dim)
        value = logp_and_grad(np.ascontiguousarray(x, dtype=np.float64), grad, self.fdata, self.idata)
        return value, grad


def _prior_entry(prior: Prior) -> tuple[int, list[float]]:
    """(prior code, [p0, p1, p2, constant])."""
    k = prior.kwargs
    dist = prior.dist
    if dist == "normal":
        mu, sigma = k.get("mu", 0.0), k["sigma"]
        return P_NORMAL, [mu, sigma, 0.0, -math.log(sigma) - 0.5 * _LOG_2PI]
    if dist == "student_t":
        nu, mu, sigma = k["nu"], k.get("mu", 0.0), k["sigma"]
        return P_STUDENT_T, [nu, mu, sigma, _student_constant(nu, sigma)]
    if dist == "halfnormal":
        sigma = k["sigma"]
        return P_HALFNORMAL, [0.0, sigma, 0.0, 0.5 * math.log(2.0 / math.pi) - math.log(sigma)]
    if dist == "halfstudent_t":
        nu, sigma = k["nu"], k["sigma"]
        return P_HALFSTUDENT_T, [nu, 0.0, sigma, math.log(2.0) + _student_constant(nu, sigma)]
    if dist == "exponential":
        lam = k["lam"]
        return P_EXPONENTIAL, [lam, 0.0, 0.0, math.log(lam)]
    if dist == "gamma":
        alpha, beta = k["alpha"], k["beta"]
        return P_GAMMA, [alpha, beta, 0.0, alpha * math.log(beta) - math.lgamma(alpha)]
    raise ValueError(f"no kernel for prior {prior}")


def _student_constant(nu: float, sigma: float) -> float:
    return math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) - 0.5 * math.log(nu * math.pi) - math.log(sigma)


def lkj_normalizing_constant(eta: float, n: int) -> float:
    """PyMC's `_lkj_normalizing_constant(eta, n)` in float64 (PyTensor folds it partly in float32,
    about 2e-9 off)."""
    lg = math.lgamma
    if eta == 1.0:
        result = sum(lg(2.0 * k) for k in range(1, int((n - 1) / 2) + 1))
        if n % 2 == 1:
            result += 0.25 * (n**2 - 1) * math.log(math.pi) - 0.25 * (n - 1) ** 2 * math.log(2.0) - (n - 1) * lg(
                int((n + 1) / 2)
            )
        else:
            result += (
                0.25 * n * (n - 2) * math.log(math.pi)
                + 0.25 * (3 * n**2 - 4 * n) * math.log(2.0)
                + n * lg(n / 2)
                - (n - 1) * lg(n)
            )
        return result
    result = -(n - 1) * lg(eta + 0.5 * (n - 1))
    return result + sum(0.5 * k * math.log(math.pi) + lg(eta + 0.5 * (n - 1 - k)) for k in range(1, n))


def _split_members(priors: list[Prior]) -> list[list[int]]:
    """The element indices of each piece of `build._prior_vector` (one piece per distinct prior)."""
    distinct = list(dict.fromkeys(priors))
    return [[i for i, p in enumerate(priors) if p == prior] for prior in distinct]


def pack(model, design: Design, family, priors: ResolvedPriors) -> Packed:
    """The flat arrays of `model`, built by `build_model(design, family, priors, centred)`.

    The layout follows `model.value_vars` by name (which effects are centred is read from them:
    `r_std_<k>` rather than `z_<k>`)."""
    family = get_family(family)
    point = model.initial_point()
    n_dim = sum(int(np.size(point[v.name])) for v in model.value_vars)
    transform = np.zeros(n_dim, dtype=np.int64)
    prior_code = np.zeros(n_dim, dtype=np.int64)
    prior_params = np.zeros((n_dim, PRIOR_STRIDE))
    K = len(design.group_effects)
    p = len(design.terms)
    beta_pos = np.full(p, -1, dtype=np.int64)
    sd_pos = np.full(K, -1, dtype=np.int64)
    effect_pos = np.full(K, -1, dtype=np.int64)
    effect_centred = np.zeros(K, dtype=np.int64)
    block_pos = np.full(len(design.correlation_blocks), -1, dtype=np.int64)
    header = np.full(HEADER, -1, dtype=np.int64)
    parameters = {fp.internal: fp for fp in family.parameters}

    def set_prior(i, prior):
        code, values = _prior_entry(prior)
        prior_code[i] = code
        prior_params[i, :4] = values

    offset = 0
    for var in model.value_vars:
        name, size = var.name, int(np.size(point[var.name]))
        at = range(offset, offset + size)
        if name == "Intercept_std":
            header[H_INTERCEPT] = offset
            set_prior(offset, priors.intercept)
        elif m := re.fullmatch(r"(b_std|sd_std)(?:_(\d+))?(_log__)?", name):
            elem_priors = priors.slopes if m.group(1) == "b_std" else priors.sds
            positions = beta_pos if m.group(1) == "b_std" else sd_pos
            members = list(range(len(elem_priors))) if m.group(2) is None else _split_members(elem_priors)[int(m.group(2))]
            if len(members) != size:
                raise ValueError(f"{name}: {size} elements, priors give {len(members)}")
            for i, member in zip(at, members):
                positions[member] = i
                set_prior(i, elem_priors[member])
                transform[i] = T_LOG if m.group(3) else T_IDENTITY
        elif m := re.fullmatch(r"(z|r_std)_(\d+)", name):
            k = int(m.group(2))
            effect_pos[k] = offset
            if m.group(1) == "z":
                for i in at:
                    set_prior(i, Prior("normal", (("mu", 0.0), ("sigma", 1.0))))
            else:
                effect_centred[k] = 1
        elif m := re.fullmatch(r"cor_chol_(\d+)_choleskycorr__", name):
            block_pos[int(m.group(1))] = offset
            transform[list(at)] = T_CHOLESKY
        elif m := re.fullmatch(r"(\w+?)(_log__|_interval__|_ordered__)", name):
            fp = parameters[m.group(1)]
            for i in at:
                set_prior(i, priors.family[fp.name])
            if m.group(2) == "_log__":
                transform[list(at)] = T_LOG
            elif m.group(2) == "_interval__":
                transform[list(at)] = T_LOWER
                prior_params[list(at), 4] = fp.lower
            else:
                transform[offset] = T_ORDERED_FIRST
                transform[offset + 1 : offset + size] = T_ORDERED
            slot = {"sigma_std": H_SIGMA, "nu": H_NU, "shape": H_AUX, "phi": H_AUX, "thresholds_std": H_THRESHOLDS}
            header[slot[fp.internal]] = offset
            if fp.internal == "thresholds_std":
                header[H_N_THRESHOLDS] = size
        else:
            raise ValueError(f"pack: unknown value variable {name}")
        offset += size
    if offset != n_dim:
        raise ValueError("pack: layout does not cover x")
    if (beta_pos < 0).any() or (sd_pos < 0).any() or (effect_pos < 0).any() or (block_pos < 0).any():
        raise ValueError("pack: a parameter of the design has no value variable")

    # float data
    n = design.n
    y = np.asarray(design.y, dtype=np.float64)
    trials = np.ones(n) if design.trials is None else np.asarray(design.trials, dtype=np.float64)
    constant = 0.0
    code = FAMILY_CODES[family.name]
    if code == BINOMIAL:
        from scipy.special import gammaln

        constant = float(np.sum(gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)))
    fparts, iparts = [], []
    fsize, isize = 0, HEADER

    def fput(values) -> int:
        nonlocal fsize
        values = np.ascontiguousarray(values, dtype=np.float64).ravel()
        fparts.append(values)
        fsize += values.size
        return fsize - values.size

    def iput(values) -> int:
        nonlocal isize
        values = np.ascontiguousarray(values, dtype=np.int64).ravel()
        iparts.append(values)
        isize += values.size
        return isize - values.size

    header[H_FAMILY] = code
    header[H_N] = n
    header[H_P] = p
    header[H_DIM] = n_dim
    header[H_K] = K
    header[H_BLOCKS] = len(design.correlation_blocks)
    header[H_ELEM] = iput(np.column_stack([transform, prior_code]))
    header[H_PRIOR] = fput(prior_params)
    header[H_X] = fput(design.X if p else np.zeros(0))
    header[H_Y] = fput(y)
    header[H_TRIALS] = fput(trials)
    header[H_BETA] = iput(beta_pos)
    header[H_SCALARS] = fput([design.y_center, design.y_scale, constant])
    block_of = {}
    for b, block in enumerate(design.correlation_blocks):
        for position, k in enumerate(block.members):
            block_of[k] = b
    effects = np.zeros((K, EFFECT_STRIDE), dtype=np.int64)
    levels = 0
    for k, effect in enumerate(design.group_effects):
        effects[k, E_INDEX] = iput(effect.index)
        effects[k, E_LEVELS] = len(effect.levels)
        effects[k, E_POS] = effect_pos[k]
        effects[k, E_SD] = sd_pos[k]
        effects[k, E_CENTRED] = effect_centred[k]
        effects[k, E_VALUES] = -1 if effect.values is None else fput(effect.values)
        effects[k, E_R] = levels
        effects[k, E_BLOCK] = block_of.get(k, -1)
        levels += len(effect.levels)
    header[H_LEVELS] = levels
    header[H_EFFECTS] = iput(effects) if K else 0
    blocks = np.zeros((len(design.correlation_blocks), BLOCK_STRIDE), dtype=np.int64)
    for b, (block, prior) in enumerate(zip(design.correlation_blocks, priors.cors)):
        size = len(block.members)
        eta = float(prior.kwargs["eta"])
        blocks[b, B_SIZE] = size
        blocks[b, B_POS] = block_pos[b]
        blocks[b, B_MEMBERS] = iput(block.members)
        blocks[b, B_LKJ] = fput([lkj_normalizing_constant(eta, size), eta])
    header[H_BLOCK_TABLE] = iput(blocks) if len(blocks) else 0
    fdata = np.concatenate(fparts) if fparts else np.zeros(0)
    idata = np.concatenate([header, *iparts])
    return Packed(fdata=fdata, idata=idata, n_dim=n_dim)


# ---------------------------------------------------------------------------------------------- kernel


@numba.njit(cache=True, inline="always")
def _softplus(x):
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@numba.njit(cache=True, inline="always")
def _logistic_likelihood(fdata, Y, trials, has_trials, eta, geta, n):
    """Sum over observations of y eta - m log(1 + e^eta) (m = trials, or 1), and d / d eta into
    geta: softplus and sigmoid from one exponential and one log per observation, as the fused
    Op of `bernoulli_logit`. Inlined with `has_trials` a constant, so the Bernoulli loop reads no
    trials."""
    lp = 0.0
    for o in range(n):
        y = fdata[Y + o]
        m = fdata[trials + o] if has_trials else 1.0
        e = eta[o]
        small = math.exp(-abs(e))  # never overflows; log(1 + e^x) = max(x, 0) + log(1 + e^-|x|)
        denominator = 1.0 + small
        lp += y * e - m * (max(e, 0.0) + math.log(denominator))
        geta[o] = y - m * (1.0 if e >= 0.0 else small) / denominator
    return lp


@numba.njit(cache=True, inline="always")
def _own_effect(idata, k):
    """Group effect k outside any correlation block: (levels, position of its values, offset in r,
    position of its SD, centred); levels -1 for a member of a correlation block."""
    e = idata[H_EFFECTS] + EFFECT_STRIDE * k
    levels = -1 if idata[e + E_BLOCK] >= 0 else idata[e + E_LEVELS]
    return levels, idata[e + E_POS], idata[e + E_R], idata[e + E_SD], idata[e + E_CENTRED] == 1


@numba.njit(cache=True, inline="always")
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True)
def _digamma(x):
    """psi(x) for x > 0 (as backend/digamma.py, which is registered for PyTensor)."""
    shift = 0.0
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    s = 1.0 / (x * x)
    series = (
        (((((1.0 / 12 * s - 691.0 / 32760) * s + 1.0 / 132) * s - 1.0 / 240) * s + 1.0 / 252) * s - 1.0 / 120) * s
        + 1.0 / 12
    )
    return shift + math.log(x) - 0.5 / x - series * s


@numba.njit(cache=True)
def logp_and_grad(x, grad, fdata, idata):
    """Log density of the packed model at x (unconstrained, Jacobians included); its gradient into grad."""
    family = idata[H_FAMILY]
    n = idata[H_N]
    p = idata[H_P]
    n_dim = idata[H_DIM]
    K = idata[H_K]
    n_blocks = idata[H_BLOCKS]
    elem = idata[H_ELEM]
    prior = idata[H_PRIOR]
    lp = 0.0

    # ---- transforms: theta (constrained) from x; Jacobians
    theta = np.empty(n_dim)
    gt = np.zeros(n_dim)  # d lp / d theta (Cholesky entries: then d lp / d y)
    for i in range(n_dim):
        t = idata[elem + 2 * i]
        if t == T_IDENTITY or t == T_ORDERED_FIRST or t == T_CHOLESKY:
            theta[i] = x[i]
        elif t == T_LOG:
            theta[i] = math.exp(x[i])
            lp += x[i]
        elif t == T_LOWER:
            theta[i] = math.exp(x[i]) + fdata[prior + PRIOR_STRIDE * i + 4]
            lp += x[i]
        else:  # T_ORDERED
            theta[i] = theta[i - 1] + math.exp(x[i])
            lp += x[i]

    # ---- correlation blocks: entries w of each Cholesky factor, from y = x (Stan's transform)
    for b in range(n_blocks):
        row = idata[H_BLOCK_TABLE] + BLOCK_STRIDE * b
        size = idata[row + B_SIZE]
        pos = idata[row + B_POS]
        k = pos
        for i in range(1, size):
            squares = 0.0
            for j in range(i):
                partial = math.tanh(x[k])
                w = partial * math.sqrt(1.0 - squares)
                theta[k] = w
                squares += w * w
                k += 1

    # ---- elementwise priors
    for i in range(n_dim):
        code = idata[elem + 2 * i + 1]
        if code == P_NONE:
            continue
        v = theta[i]
        q = prior + PRIOR_STRIDE * i
        c = fdata[q + 3]
        if code == P_NORMAL or code == P_HALFNORMAL:
            z = (v - fdata[q]) / fdata[q + 1]
            lp += c - 0.5 * z * z
            gt[i] += -z / fdata[q + 1]
        elif code == P_STUDENT_T or code == P_HALFSTUDENT_T:
            nu = fdata[q]
            s = fdata[q + 2]
            z = (v - fdata[q + 1]) / s
            lp += c - 0.5 * (nu + 1.0) * math.log1p(z * z / nu)
            gt[i] += -(nu + 1.0) * z / (s * (nu + z * z))
        elif code == P_EXPONENTIAL:
            lp += c - fdata[q] * v
            gt[i] += -fdata[q]
        else:  # P_GAMMA
            alpha = fdata[q]
            beta = fdata[q + 1]
            lp += c + (alpha - 1.0) * math.log(v) - beta * v
            gt[i] += (alpha - 1.0) / v - beta

    # ---- group effects r (levels of every effect, one after another)
    n_levels = idata[H_LEVELS]
    r = np.zeros(n_levels)
    gr = np.zeros(n_levels)
    effects = idata[H_EFFECTS]
    for k in range(K):
        levels, pos, ro, sdi, centred = _own_effect(idata, k)
        if levels < 0:
            continue
        if centred:
            for l in range(levels):
                r[ro + l] = theta[pos + l]
        else:
            sd = theta[sdi]
            for l in range(levels):
                r[ro + l] = theta[pos + l] * sd
    for b in range(n_blocks):
        row = idata[H_BLOCK_TABLE] + BLOCK_STRIDE * b
        size = idata[row + B_SIZE]
        members = idata[row + B_MEMBERS]
        L = _cholesky(theta, idata[row + B_POS], size)
        for i in range(size):
            e = effects + EFFECT_STRIDE * idata[members + i]
            levels = idata[e + E_LEVELS]
            ro = idata[e + E_R]
            sd = theta[idata[e + E_SD]]
            for l in range(levels):
                total = 0.0
                for j in range(i + 1):
                    ej = effects + EFFECT_STRIDE * idata[members + j]
                    total += L[i, j] * theta[idata[ej + E_POS] + l]
                r[ro + l] = total * sd

    # ---- linear predictor
    eta = np.empty(n)
    X = idata[H_X]
    beta_pos = idata[H_BETA]
    intercept = 0.0
    if idata[H_INTERCEPT] >= 0:
        intercept = theta[idata[H_INTERCEPT]]
    beta = np.empty(p)
    for j in range(p):
        beta[j] = theta[idata[beta_pos + j]]
    if p > 0:
        design = fdata[X : X + n * p].reshape((n, p))
        eta[:] = np.dot(design, beta)
        for o in range(n):
            eta[o] += intercept
    else:
        eta[:] = intercept
    for k in range(K):
        e = effects + EFFECT_STRIDE * k
        index = idata[e + E_INDEX]
        ro = idata[e + E_R]
        vo = idata[e + E_VALUES]
        if vo < 0:
            for o in range(n):
                eta[o] += r[ro + idata[index + o]]
        else:
            for o in range(n):
                eta[o] += r[ro + idata[index + o]] * fdata[vo + o]

    # ---- likelihood: lp and d lp / d eta
    geta = np.empty(n)
    Y = idata[H_Y]
    scalars = idata[H_SCALARS]
    lp += fdata[scalars + 2]
    if family == BERNOULLI:
        lp += _logistic_likelihood(fdata, Y, Y, False, eta, geta, n)
    elif family == BINOMIAL:
        lp += _logistic_likelihood(fdata, Y, idata[H_TRIALS], True, eta, geta, n)
    elif family == POISSON:
        for o in range(n):
            y = fdata[Y + o]
            mu = math.exp(eta[o])
            lp += y * eta[o] - mu - math.lgamma(y + 1.0)
            geta[o] = y - mu
    elif family == NEGBINOMIAL:
        a = theta[idata[H_AUX]]
        ga = 0.0
        log_a = math.log(a)
        psi_a = _digamma(a)
        lgamma_a = math.lgamma(a)
        for o in range(n):
            y = fdata[Y + o]
            mu = math.exp(eta[o])
            log_total = math.log(mu + a)
            lp += math.lgamma(y + a) - lgamma_a - math.lgamma(y + 1.0) + a * (log_a - log_total)
            if y != 0.0:
                lp += y * (eta[o] - log_total)
            geta[o] = y - (y + a) * mu / (mu + a)
            ga += _digamma(y + a) - psi_a + log_a - log_total + (mu - y) / (mu + a)
        gt[idata[H_AUX]] += ga
    elif family == BETA:
        phi = theta[idata[H_AUX]]
        gphi = 0.0
        for o in range(n):
            y = fdata[Y + o]
            mu = _sigmoid(eta[o])
            om = 1.0 - mu
            a = mu * phi
            bb = om * phi
            log_y = math.log(y)
            log_1my = math.log1p(-y)
            lp += (a - 1.0) * log_y + (bb - 1.0) * log_1my - (math.lgamma(a) + math.lgamma(bb) - math.lgamma(a + bb))
            psi_ab = _digamma(a + bb)
            ga = log_y - _digamma(a) + psi_ab
            gb = log_1my - _digamma(bb) + psi_ab
            geta[o] = (ga - gb) * phi * mu * om
            gphi += ga * mu + gb * om
        gt[idata[H_AUX]] += gphi
    elif family == GAUSSIAN or family == STUDENT:
        center = fdata[scalars]
        scale = fdata[scalars + 1]
        s = scale * theta[idata[H_SIGMA]]
        gs = 0.0
        if family == GAUSSIAN:
            lp += -n * (math.log(s) + 0.5 * _LOG_2PI)
            gs += -n / s
            # one reciprocal and one running sum: a division per observation cost a fifth of
            # the gradient (phq9_change: 23.5 -> 19.4 us)
            inv_s = 1.0 / s
            squares = 0.0
            for o in range(n):
                res = (fdata[Y + o] - center - scale * eta[o]) * inv_s
                squares += res * res
                geta[o] = scale * inv_s * res
            lp += -0.5 * squares
            gs += squares * inv_s
        else:
            nu = theta[idata[H_NU]]
            lp += n * (math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) - 0.5 * math.log(nu * math.pi) - math.log(s))
            gs += -n / s
            gnu = n * (0.5 * _digamma((nu + 1.0) / 2.0) - 0.5 * _digamma(nu / 2.0) - 0.5 / nu)
            inv_s = 1.0 / s
            inv_nu = 1.0 / nu
            log_terms = 0.0
            weighted = 0.0
            for o in range(n):
                res = (fdata[Y + o] - center - scale * eta[o]) * inv_s
                r2 = res * res
                log_term = math.log1p(r2 * inv_nu)
                d = (nu + 1.0) / (nu + r2)
                log_terms += log_term
                weighted += d * r2
                geta[o] = scale * inv_s * d * res
            lp += -0.5 * (nu + 1.0) * log_terms
            gs += weighted * inv_s
            gnu += -0.5 * log_terms + 0.5 * weighted * inv_nu
            gt[idata[H_NU]] += gnu
        gt[idata[H_SIGMA]] += scale * gs
    else:  # CUMULATIVE
        tpos = idata[H_THRESHOLDS]
        last = idata[H_N_THRESHOLDS]  # category codes 0..last
        for o in range(n):
            y = int(fdata[Y + o])
            hi = _OPEN_END if y == last else theta[tpos + y]
            lo = -_OPEN_END if y == 0 else theta[tpos + y - 1]
            u = eta[o] - hi
            v = eta[o] - lo
            log_upper = -_softplus(u)
            log_lower = -_softplus(v)
            d = log_lower - log_upper
            g = 0.0
            if d < -_TINY:
                g = -1.0 / math.expm1(-d)  # d log1mexp(d) / dd
            else:
                d = -_TINY
            if d > -math.log(2.0):
                lp += log_upper + math.log(-math.expm1(d))
            else:
                lp += log_upper + math.log1p(-math.exp(d))
            su = _sigmoid(u)
            sv = _sigmoid(v)
            geta[o] = -(1.0 - g) * su - g * sv
            if y < last:
                gt[tpos + y] += (1.0 - g) * su
            if y > 0:
                gt[tpos + y - 1] += g * sv

    # ---- back through the linear predictor
    if idata[H_INTERCEPT] >= 0:
        total = 0.0
        for o in range(n):
            total += geta[o]
        gt[idata[H_INTERCEPT]] += total
    if p > 0:
        gb = np.dot(geta, fdata[X : X + n * p].reshape((n, p)))
        for j in range(p):
            gt[idata[beta_pos + j]] += gb[j]
    for k in range(K):
        e = effects + EFFECT_STRIDE * k
        index = idata[e + E_INDEX]
        ro = idata[e + E_R]
        vo = idata[e + E_VALUES]
        if vo < 0:
            for o in range(n):
                gr[ro + idata[index + o]] += geta[o]
        else:
            for o in range(n):
                gr[ro + idata[index + o]] += geta[o] * fdata[vo + o]

    # ---- back through the group effects (and the centred effects' priors)
    for k in range(K):
        levels, pos, ro, sdi, centred = _own_effect(idata, k)
        if levels < 0:
            continue
        sd = theta[sdi]
        if centred:
            inv_sd = 1.0 / sd
            lp += -levels * (math.log(sd) + 0.5 * _LOG_2PI)
            squares = 0.0
            for l in range(levels):
                z = r[ro + l] * inv_sd
                squares += z * z
                gt[pos + l] += gr[ro + l] - z * inv_sd
            lp += -0.5 * squares
            gt[sdi] += (squares - levels) * inv_sd
        else:
            gsd = 0.0
            for l in range(levels):
                gt[pos + l] += gr[ro + l] * sd
                gsd += gr[ro + l] * theta[pos + l]
            gt[sdi] += gsd
    for b in range(n_blocks):
        row = idata[H_BLOCK_TABLE] + BLOCK_STRIDE * b
        size = idata[row + B_SIZE]
        members = idata[row + B_MEMBERS]
        bpos = idata[row + B_POS]
        lkj = idata[row + B_LKJ]
        L = _cholesky(theta, bpos, size)
        gL = np.zeros((size, size))
        for i in range(size):
            e = effects + EFFECT_STRIDE * idata[members + i]
            levels = idata[e + E_LEVELS]
            ro = idata[e + E_R]
            sdi = idata[e + E_SD]
            sd = theta[sdi]
            gsd = 0.0
            for l in range(levels):
                g = gr[ro + l]
                total = 0.0
                for j in range(i + 1):
                    zpos = idata[effects + EFFECT_STRIDE * idata[members + j] + E_POS] + l
                    total += L[i, j] * theta[zpos]
                    gt[zpos] += g * sd * L[i, j]
                    gL[i, j] += g * sd * theta[zpos]
                gsd += g * total
            gt[sdi] += gsd
        # LKJ density: sum_i (n - i - 1 + 2 (eta - 1)) log L[i, i], normalised
        eta_lkj = fdata[lkj + 1]
        lp += fdata[lkj]
        for i in range(1, size):
            coefficient = size - i - 1 + 2.0 * (eta_lkj - 1.0)
            lp += coefficient * math.log(L[i, i])
            gL[i, i] += coefficient / L[i, i]
        # entries w: L[i, j] = w for j < i, L[i, i] = sqrt(1 - sum_j w^2); the Jacobian's
        # 0.5 log(1 - squares before each entry); then back through w(y)
        k = bpos
        for i in range(1, size):
            first = k
            for j in range(i):
                gt[first + j] += gL[i, j] - gL[i, i] * L[i, j] / L[i, i]
            squares = 0.0
            for j in range(i):
                if j > 0:
                    lp += 0.5 * math.log(1.0 - squares)
                    for jj in range(j):
                        gt[first + jj] += -L[i, jj] / (1.0 - squares)
                squares += L[i, j] * L[i, j]
            # w_j = tanh(y_j) sqrt(1 - s_j), s_{j+1} = s_j + w_j^2: reverse
            gs = 0.0
            for j in range(i - 1, -1, -1):
                w = L[i, j]
                G = gt[first + j] + gs * 2.0 * w
                partial = math.tanh(x[first + j])
                s_j = 0.0
                for jj in range(j):
                    s_j += L[i, jj] * L[i, jj]
                root = math.sqrt(1.0 - s_j)
                gpartial = G * root
                gs = gs - 0.5 * G * partial / root
                gt[first + j] = gpartial * (1.0 - partial * partial)
            k += i
        for i in range(bpos, bpos + n_entries_kernel(size)):
            magnitude = abs(x[i])
            lp += 2.0 * (math.log(2.0) - magnitude - math.log1p(math.exp(-2.0 * magnitude)))
            gt[i] += -2.0 * math.tanh(x[i])

    # ---- back through the transforms
    acc = 0.0
    for i in range(n_dim - 1, -1, -1):
        t = idata[elem + 2 * i]
        if t == T_IDENTITY or t == T_CHOLESKY:
            grad[i] = gt[i]
        elif t == T_LOG:
            grad[i] = gt[i] * theta[i] + 1.0
        elif t == T_LOWER:
            grad[i] = gt[i] * math.exp(x[i]) + 1.0
        elif t == T_ORDERED:
            acc += gt[i]
            grad[i] = acc * math.exp(x[i]) + 1.0
        else:  # T_ORDERED_FIRST
            acc += gt[i]
            grad[i] = acc
            acc = 0.0
    return lp


@numba.njit(cache=True)
def n_entries_kernel(size):
    return size * (size - 1) // 2


@numba.njit(cache=True)
def _cholesky(theta, pos, size):
    """The factor L (size x size) from its strictly lower entries theta[pos:], row by row."""
    L = np.zeros((size, size))
    L[0, 0] = 1.0
    k = pos
    for i in range(1, size):
        squares = 0.0
        for j in range(i):
            L[i, j] = theta[k]
            squares += theta[k] * theta[k]
            k += 1
        L[i, i] = math.sqrt(1.0 - squares)
    return L


# ---------------------------------------------------------------------------------------------- C callbacks


def _kernel_logp(dim, x_, out_, logp_, user_data_):
    """nutpie's log-density callback: the kernel on the packed model that `user_data_` addresses."""
    arrays = numba.carray(user_data_, (4,), np.int64)
    fdata = numba.carray(address_as_void_pointer(arrays[0]), (arrays[1],), np.float64)
    idata = numba.carray(address_as_void_pointer(arrays[2]), (arrays[3],), np.int64)
    if dim != idata[H_DIM]:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    logp = numba.carray(logp_, (1,))
    value = logp_and_grad(x, out, fdata, idata)
    logp[0] = value
    for i in range(dim):
        if not np.isfinite(out[i]):
            return 3
    if not np.isfinite(value):
        return 4
    return 0


def _kernel_expand(dim, expanded, x_, out_, user_data_):
    """nutpie's expand callback: the saved values are the unconstrained point itself."""
    if dim != expanded:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (expanded,))
    for i in range(dim):
        out[i] = x[i]
    return 0


@functools.cache
def c_callbacks():
    """(logp callback, expand callback) as C functions with nutpie's signatures, compiled once per
    machine and loaded from numba's disk cache after that.

    They live in this module, beside the kernel they call, and at module level: numba checks a
    cache entry against the source file of the function itself only (a callback cached from
    another file kept calling an old kernel after this file changed), and keys a closure's entry
    on its pickled cells, which differ in every process (a nested callback compiled anew in every
    job, 1.4 s, and added an entry to the cache each time)."""
    double_ptr = types.CPointer(types.double)
    logp_sig = types.int64(types.uint64, double_ptr, double_ptr, double_ptr, types.voidptr)
    expand_sig = types.int64(types.uint64, types.uint64, double_ptr, double_ptr, types.voidptr)
    return numba.cfunc(logp_sig, cache=True)(_kernel_logp), numba.cfunc(expand_sig, cache=True)(_kernel_expand)
