"""Outcome families as objects: link, outcome check, parameters and priors, likelihood, expected
value, simulation, posterior-predictive statistics and the scale of the effect table.

Every family works with the linear predictor `eta` on its link scale and with its parameters on the
data's scale, except where a method says "internal" (the sampler's scale: for `gaussian` and
`student` the outcome is standardised, y = y_center + y_scale * eta). PyMC is imported inside the
methods that build the model, so this module stays cheap to import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import betaln, expit, gammaln

from ..errors import ModelSpecError, data_rows
from .prior import Prior, make_prior

_YES_NO = {"y": 1, "n": 0, "yes": 1, "no": 0}
_TRIALS = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\|\s*trials\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)\s*~")

_TINY = 1e-300  # log P(y = k) >= log(1e-300): where both CDFs round to the same number
_OPEN_END = 1e6  # stands for an infinite threshold below the first and above the last category
STUDENT_T_2_5 = make_prior("student_t", nu=3.0, mu=0.0, sigma=2.5)
HALF_STUDENT_T_2_5 = make_prior("halfstudent_t", nu=3.0, sigma=2.5)


@dataclass(frozen=True)
class FamilyParameter:
    """A parameter of the likelihood beside the linear predictor.

    `name`: in summary.csv and posterior.nc (and the priors key); `internal`: the sampler's variable;
    `outcome_scale`: the data-scale value is y_scale times the internal one (sigma of standardised
    outcomes); `lower`: lower bound of its support (nu: 1, as brms)."""

    name: str
    internal: str
    prior: Prior
    outcome_scale: bool = False
    lower: float = 0.0


class Family:
    """Base of all families. Subclasses set the class attributes and the methods that differ."""

    name: str
    link: str  # "logit", "log" or "identity"
    ratio: str | None = None  # "odds_ratio", "rate_ratio" or None (no ratio scale)
    standardised_outcome = False  # the sampler sees (y - y_center) / y_scale
    intercept_parameter = True  # False: thresholds replace the intercept (cumulative)
    parameters: tuple[FamilyParameter, ...] = ()
    intercept_prior = STUDENT_T_2_5
    slope_prior = make_prior("normal", mu=0.0, sigma=2.5)
    sd_prior = HALF_STUDENT_T_2_5
    legacy_ppc = False  # ppc.csv with one mean per row (bernoulli, gaussian), not one row per statistic
    ordinal = False  # ordered categories (cumulative): `outcome_levels` applies
    uses_trials = False  # binomial: `successes | trials(n) ~ ...`
    warns_separation = False  # warn when a level of a categorical predictor has only 0s or only 1s

    def __repr__(self) -> str:
        return f"<family {self.name}>"

    def __reduce__(self):  # a registry singleton: pickles (nutpie's rebuild) as a lookup by name
        return (get_family, (self.name,))

    # ------------------------------------------------------------------ data checks
    def check_outcome(self, values: pd.Series, column: str, outcome_levels: list | None = None) -> np.ndarray:
        """The outcome as a float array, or a ModelSpecError naming column, rows and reason.
        `outcome_levels`: the order of an ordinal outcome's categories (cumulative only)."""
        return numeric_outcome(self.name, values, column)

    def categories(self, values: pd.Series, column: str, outcome_levels: list | None) -> list[str] | None:
        """The ordered categories of an ordinal outcome; None for other families."""
        return None

    # ------------------------------------------------------------------ scales
    def default_priors(self) -> dict[str, Prior]:
        priors = {"Intercept": self.intercept_prior, "b": self.slope_prior, "sd": self.sd_prior}
        priors.update({p.name: p.prior for p in self.parameters})
        return priors

    def data_scale(self, eta, internal: dict, design) -> tuple:
        """(eta, parameters by name) on the data's scale from the sampler's internal values."""
        params = {}
        for p in self.parameters:
            value = internal[p.internal]
            params[p.name] = design.y_scale * value if p.outcome_scale else value
        if self.standardised_outcome:
            eta = design.y_center + design.y_scale * eta
        return eta, params

    def inverse_link(self, eta):
        return {"logit": expit, "log": np.exp, "identity": lambda x: x}[self.link](eta)

    # ------------------------------------------------------------------ model
    def pymc_parameter_options(self, parameter: FamilyParameter, design) -> dict:
        """Extra keyword arguments of the PyMC variable of `parameter` (bounds, dims)."""
        if parameter.lower:
            import pymc as pm

            # default_transform replaces the distribution's own (log); `transform` would chain onto it
            return {"default_transform": pm.distributions.transforms.Interval(lower=parameter.lower, upper=None)}
        return {}

    def likelihood(self, name: str, eta, params: dict, design):
        """The PyMC likelihood of the observed outcome; `eta` and `params` are internal."""
        raise NotImplementedError

    def log_likelihood(self, y, eta, params: dict, design) -> np.ndarray:
        """Pointwise log-likelihood; `eta` (draws, obs) and `params` (draws, ...) on the data scale."""
        raise NotImplementedError

    def mean(self, eta, params: dict, trials=None):
        """E[y] on the data scale (for binomial: expected successes given `trials`)."""
        return self.inverse_link(eta)

    def simulate(self, eta, params: dict, rng: np.random.Generator, trials=None) -> np.ndarray:
        """One replicated outcome per observation; `eta` (obs,) and scalar `params`, data scale."""
        raise NotImplementedError

    def simulate_internal(self, eta, internal: dict, rng, design) -> np.ndarray:
        """`simulate` from internal values (the posterior-predictive check's path)."""
        eta, params = self.data_scale(eta, internal, design)
        return self.simulate(eta, params, rng, design.trials)

    def ppc_statistics(self, y, codes, counts, n_levels: int, design) -> dict[str, np.ndarray]:
        """Posterior-predictive statistics per level of a grouping (codes, counts per level)."""
        return {"mean": _group_mean(y, codes, counts, n_levels)}

    def latent_residual_variance(self, posterior):
        """Residual variance on the latent scale (for the ICC), or None where it is not defined."""
        return None


def _category_text(values: pd.Series) -> pd.Series:
    """Category labels as text; whole numbers without a decimal point (2.0 -> "2")."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float)
        if (numbers == np.round(numbers)).all():
            return pd.Series(numbers.astype(np.int64).astype(str), index=values.index)
    return values.astype(str)


def softplus(x):
    """log(1 + e^x) without overflow: NumPy's logaddexp(0, x) to rounding, in half its time (0.27
    against 0.12 s for guimmun's 4,000 draws x 2,159 observations)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _group_mean(values, codes, counts, n_levels):
    return np.bincount(codes, weights=values, minlength=n_levels) / counts


def numeric_outcome(family: str, values: pd.Series, column: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ModelSpecError(f"{family} outcome '{column}' must be numeric, got dtype {values.dtype}")
    return values.to_numpy(dtype=float)


# ---------------------------------------------------------------------- logit families


class Bernoulli(Family):
    """0/1 outcome, logit link. The backend replaces `likelihood` by its fused kernel."""

    name, link, ratio = "bernoulli", "logit", "odds_ratio"
    warns_separation = True
    intercept_prior = make_prior("normal", mu=0.0, sigma=2.5)
    sd_prior = make_prior("halfnormal", sigma=2.5)
    legacy_ppc = True

    def check_outcome(self, values, column, outcome_levels=None):
        """0/1 floats; bool and Y/N or yes/no accepted."""
        if pd.api.types.is_numeric_dtype(values):  # includes bool
            y = values.to_numpy(dtype=float)
        else:
            y = values.astype(str).str.strip().str.lower().map(_YES_NO).to_numpy(dtype=float)
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            examples = sorted(map(str, pd.unique(values[bad])))[:5]
            raise ModelSpecError(
                f"bernoulli outcome '{column}' must be 0/1, bool or Y/N; found {int(bad.sum())} other value(s), "
                f"e.g. {examples}, {data_rows(bad)}"
            )
        if y.min() == y.max():
            raise ModelSpecError(f"bernoulli outcome '{column}' is always {int(y[0])}")
        return y

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        return pm.Bernoulli(name, logit_p=eta, observed=design.y, dims="obs")

    def log_likelihood(self, y, eta, params, design):
        return y * eta - softplus(eta)

    def simulate(self, eta, params, rng, trials=None):
        return (rng.random(len(eta)) < expit(eta)).astype(float)

    def latent_residual_variance(self, posterior):
        return np.pi**2 / 3


class Binomial(Family):
    """Successes out of `trials(n)` (brms: `successes | trials(n) ~ ...`), logit link."""

    name, link, ratio = "binomial", "logit", "odds_ratio"
    uses_trials = True

    def check_outcome(self, values, column, outcome_levels=None):
        return count_outcome(self.name, values, column)

    def check_trials(self, successes: np.ndarray, trials: pd.Series, column: str, trials_column: str) -> np.ndarray:
        """Trials: positive integers, at least the successes of their row."""
        n = numeric_outcome(self.name, trials, trials_column)
        bad = (n <= 0) | (n != np.round(n))
        if bad.any():
            raise ModelSpecError(
                f"binomial trials '{trials_column}' must be positive integers; {int(bad.sum())} value(s) are not, "
                f"e.g. {sorted(map(str, pd.unique(trials[bad])))[:5]}, {data_rows(bad)}"
            )
        above = successes > n
        if above.any():
            raise ModelSpecError(
                f"binomial outcome '{column}' exceeds its trials '{trials_column}' in {int(above.sum())} row(s), "
                f"{data_rows(above)}"
            )
        if successes.sum() == 0 or (successes == n).all():
            raise ModelSpecError(
                f"binomial outcome '{column}' is always {'0' if successes.sum() == 0 else 'equal to its trials'}"
            )
        return n

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        return pm.Binomial(name, n=design.trials, logit_p=eta, observed=design.y, dims="obs")

    def log_likelihood(self, y, eta, params, design):
        n = design.trials
        choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
        return choose + y * eta - n * softplus(eta)

    def mean(self, eta, params, trials=None):
        p = expit(eta)
        return p if trials is None else trials * p

    def simulate(self, eta, params, rng, trials=None):
        return rng.binomial(trials.astype(np.int64), expit(eta)).astype(float)

    def ppc_statistics(self, y, codes, counts, n_levels, design):
        return {"mean_proportion": _group_mean(y / design.trials, codes, counts, n_levels)}

    def latent_residual_variance(self, posterior):
        return np.pi**2 / 3


class Cumulative(Family):
    """Ordered categories, logit link, K-1 ordered thresholds (brms: P(y <= k) = logistic(t_k - eta)).

    The outcome is coded 0..K-1 in the order of its categories; `design.outcome_levels` names them."""

    name, link, ratio = "cumulative", "logit", "odds_ratio"
    ordinal = True
    intercept_parameter = False
    parameters = (FamilyParameter("Intercept", "thresholds_std", STUDENT_T_2_5),)

    def categories(self, values: pd.Series, column: str, outcome_levels: list | None) -> list[str]:
        """The ordered categories: `outcome_levels`, an ordered categorical's, or sorted integers."""
        text = _category_text(values)
        if outcome_levels is not None:
            levels = [str(level) for level in outcome_levels]
            outside = ~text.isin(levels).to_numpy()
            if outside.any():
                raise ModelSpecError(
                    f"cumulative outcome '{column}' has {int(outside.sum())} value(s) not in outcome_levels "
                    f"{levels}, e.g. {sorted(pd.unique(text[outside]))[:5]}, {data_rows(outside)}"
                )
        elif isinstance(values.dtype, pd.CategoricalDtype) and values.cat.ordered:
            levels = [str(level) for level in values.cat.categories]
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype=float)
            bad = numbers != np.round(numbers)
            if bad.any():
                raise ModelSpecError(
                    f"cumulative outcome '{column}' must hold integer categories; {int(bad.sum())} value(s) are "
                    f"not, e.g. {sorted(map(str, pd.unique(values[bad])))[:5]}, {data_rows(bad)}"
                )
            levels = [str(int(level)) for level in sorted(pd.unique(numbers))]
        else:
            raise ModelSpecError(
                f"cumulative outcome '{column}' holds unordered values (dtype {values.dtype}, e.g. "
                f"{sorted(pd.unique(text))[:5]}); give their order in the model's 'outcome_levels'"
            )
        observed = set(text)
        absent = [level for level in levels if level not in observed]
        if absent:
            raise ModelSpecError(
                f"cumulative outcome '{column}': categor{'ies' if len(absent) > 1 else 'y'} {absent} of "
                f"{levels} never occur in the data; drop them from outcome_levels or merge categories"
            )
        if len(levels) < 3:
            raise ModelSpecError(
                f"cumulative outcome '{column}' has {len(levels)} categories {levels}; an ordinal model needs at "
                "least 3 (use family bernoulli for two)"
            )
        return levels

    def check_outcome(self, values, column, outcome_levels=None):
        """Category codes 0..K-1 as floats."""
        levels = self.categories(values, column, outcome_levels)
        return _category_text(values).map({level: k for k, level in enumerate(levels)}).to_numpy(dtype=float)

    def pymc_parameter_options(self, parameter, design):
        import pymc as pm

        k = len(design.outcome_levels) - 1
        return {
            "dims": "threshold",
            "transform": pm.distributions.transforms.ordered,
            "initval": np.linspace(-1.0, 1.0, k),
        }

    def data_scale(self, eta, internal, design):
        """Thresholds and eta shift together (P(y <= k) depends on t_k - eta): internal values serve."""
        return eta, {"Intercept": internal["thresholds_std"]}

    def likelihood(self, name, eta, params, design):
        """log P(y = k) = log(F(t_k - eta) - F(t_{k-1} - eta)), F the logistic CDF, written as
        log F(u) + log1mexp(log F(l) - log F(u)): stable in the tails and, unlike pm.OrderedLogistic's
        matrix of category probabilities, one term per observation (inhaler on 2 cores: compile 54 -> 38 s,
        the same draws' quality)."""
        import pymc as pm
        import pytensor.tensor as pt

        def logp(value, eta, thresholds):
            padded = pt.concatenate([[-_OPEN_END], thresholds, [_OPEN_END]])
            log_upper = -pt.softplus(eta - padded[value + 1])
            log_lower = -pt.softplus(eta - padded[value])
            # the difference is 0 only where both CDFs round to the same number (far tails): clamp
            return log_upper + pt.log1mexp(pt.minimum(log_lower - log_upper, -_TINY))

        return pm.CustomDist(
            name,
            eta,
            params["thresholds_std"],
            logp=logp,
            observed=design.y.astype(np.int64),
            dtype="int64",
            dims="obs",
        )

    def category_probabilities(self, eta, thresholds) -> np.ndarray:
        """P(y = k), shape eta.shape + (K,); thresholds (..., K-1) broadcast against eta's leading axes."""
        cdf = expit(np.expand_dims(thresholds, -2) - np.asarray(eta)[..., np.newaxis])
        ones = np.ones(cdf.shape[:-1] + (1,))
        return np.diff(np.concatenate([0 * ones, cdf, ones], axis=-1), axis=-1)

    def log_likelihood(self, y, eta, params, design):
        """As `likelihood`: log F(t_y - eta) + log1mexp(log F(t_{y-1} - eta) - log F(t_y - eta))."""
        thresholds = np.asarray(params["Intercept"])  # (draws, K-1)
        ends = np.full(thresholds.shape[:-1] + (1,), _OPEN_END)
        padded = np.concatenate([-ends, thresholds, ends], axis=-1)
        codes = y.astype(np.int64)
        log_upper = -softplus(eta - padded[..., codes + 1])
        log_lower = -softplus(eta - padded[..., codes])
        difference = np.minimum(log_lower - log_upper, -_TINY)
        with np.errstate(invalid="ignore", divide="ignore"):  # np.where evaluates both branches
            log1mexp = np.where(
                difference > -np.log(2), np.log(-np.expm1(difference)), np.log1p(-np.exp(difference))
            )
        return log_upper + log1mexp

    def mean(self, eta, params, trials=None, values=None):
        """E[y] over the category values (`values`: numbers of the categories, default 1..K)."""
        probabilities = self.category_probabilities(eta, params["Intercept"])
        values = np.arange(1, probabilities.shape[-1] + 1) if values is None else np.asarray(values, dtype=float)
        return probabilities @ values

    def simulate(self, eta, params, rng, trials=None):
        cdf = expit(np.expand_dims(params["Intercept"], -2) - np.asarray(eta)[:, np.newaxis])
        return (rng.random(len(eta))[:, np.newaxis] > cdf).sum(axis=1).astype(float)

    def ppc_statistics(self, y, codes, counts, n_levels, design):
        return {
            f"share[{level}]": _group_mean((y == k).astype(float), codes, counts, n_levels)
            for k, level in enumerate(design.outcome_levels)
        }

    def latent_residual_variance(self, posterior):
        return np.pi**2 / 3


class Beta(Family):
    """Proportions strictly inside (0, 1), logit link for the mean, precision `phi` (brms's)."""

    name, link = "beta", "logit"
    parameters = (FamilyParameter("phi", "phi", make_prior("gamma", alpha=0.01, beta=0.01)),)

    def check_outcome(self, values, column, outcome_levels=None):
        y = numeric_outcome(self.name, values, column)
        bad = (y <= 0) | (y >= 1)
        if bad.any():
            zeros, ones = int((y == 0).sum()), int((y == 1).sum())
            outside = int(bad.sum()) - zeros - ones
            raise ModelSpecError(
                f"beta outcome '{column}' must lie strictly between 0 and 1; {int(bad.sum())} value(s) do not "
                f"({zeros} equal to 0, {ones} equal to 1, {outside} outside [0, 1]), {data_rows(bad)}. "
                "Proportions of n items can be squeezed inside first (Smithson & Verkuilen 2006: "
                "(y * (n - 1) + 0.5) / n), or fitted with a zero-one-inflated beta model (brms "
                "zero_one_inflated_beta), which this workflow does not provide"
            )
        return y

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        mu = pm.math.invlogit(eta)
        phi = params["phi"]
        return pm.Beta(name, alpha=mu * phi, beta=(1 - mu) * phi, observed=design.y, dims="obs")

    def log_likelihood(self, y, eta, params, design):
        mu, phi = expit(eta), np.asarray(params["phi"])[..., np.newaxis]
        a, b = mu * phi, (1 - mu) * phi
        return (a - 1) * np.log(y) + (b - 1) * np.log1p(-y) - betaln(a, b)

    def simulate(self, eta, params, rng, trials=None):
        mu = expit(eta)
        return rng.beta(mu * params["phi"], (1 - mu) * params["phi"])

    def ppc_statistics(self, y, codes, counts, n_levels, design):
        return {"mean_proportion": _group_mean(y, codes, counts, n_levels)}


# ---------------------------------------------------------------------- log families


def count_outcome(family: str, values: pd.Series, column: str) -> np.ndarray:
    """Non-negative integer counts as floats; not all zero."""
    y = numeric_outcome(family, values, column)
    bad = (y < 0) | (y != np.round(y))
    if bad.any():
        raise ModelSpecError(
            f"{family} outcome '{column}' must hold non-negative integer counts; {int(bad.sum())} value(s) do "
            f"not, e.g. {sorted(map(str, pd.unique(values[bad])))[:5]}, {data_rows(bad)}"
        )
    if y.max() == 0:
        raise ModelSpecError(f"{family} outcome '{column}' is always 0")
    return y


class _Counts(Family):
    link, ratio = "log", "rate_ratio"

    def check_outcome(self, values, column, outcome_levels=None):
        return count_outcome(self.name, values, column)

    def ppc_statistics(self, y, codes, counts, n_levels, design):
        mean = _group_mean(y, codes, counts, n_levels)
        return {
            "mean": mean,
            "variance": _group_mean(y**2, codes, counts, n_levels) - mean**2,
            "share_zero": _group_mean((y == 0).astype(float), codes, counts, n_levels),
        }


class Poisson(_Counts):
    """Counts, log link."""

    name = "poisson"

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        return pm.Poisson(name, mu=pm.math.exp(eta), observed=design.y, dims="obs")

    def log_likelihood(self, y, eta, params, design):
        return y * eta - np.exp(eta) - gammaln(y + 1)

    def simulate(self, eta, params, rng, trials=None):
        return rng.poisson(np.exp(eta)).astype(float)


class NegBinomial(_Counts):
    """Overdispersed counts, log link; `shape` as brms's: variance mu + mu^2 / shape."""

    name = "negbinomial"
    parameters = (FamilyParameter("shape", "shape", make_prior("gamma", alpha=0.01, beta=0.01)),)

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        return pm.NegativeBinomial(name, mu=pm.math.exp(eta), alpha=params["shape"], observed=design.y, dims="obs")

    def log_likelihood(self, y, eta, params, design):
        shape = np.asarray(params["shape"])[..., np.newaxis]
        log_mu_shape = np.logaddexp(eta, np.log(shape))  # log(mu + shape)
        return (
            gammaln(y + shape)
            - gammaln(shape)
            - gammaln(y + 1)
            + shape * (np.log(shape) - log_mu_shape)
            + y * (eta - log_mu_shape)
        )

    def simulate(self, eta, params, rng, trials=None):
        shape = params["shape"]
        return rng.poisson(rng.gamma(shape, np.exp(eta) / shape)).astype(float)


# ---------------------------------------------------------------------- identity families


class Gaussian(Family):
    """Normal outcome, identity link; the sampler sees the standardised outcome."""

    name, link = "gaussian", "identity"
    standardised_outcome = True
    parameters = (FamilyParameter("sigma", "sigma_std", make_prior("halfnormal", sigma=1.0), outcome_scale=True),)
    intercept_prior = make_prior("normal", mu=0.0, sigma=2.5)
    sd_prior = make_prior("halfnormal", sigma=1.0)
    legacy_ppc = True

    def check_outcome(self, values, column, outcome_levels=None):
        y = numeric_outcome(self.name, values, column)
        if y.std() == 0:
            raise ModelSpecError(f"{self.name} outcome '{column}' is constant")
        return y

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        return pm.Normal(name, **self._observed_on_data_scale(eta, params, design))

    @staticmethod
    def _observed_on_data_scale(eta, params, design) -> dict:
        """Location, scale and the observed outcome, the internal eta and sigma moved to the data scale."""
        return {
            "mu": design.y_center + design.y_scale * eta,
            "sigma": design.y_scale * params["sigma_std"],
            "observed": design.y,
            "dims": "obs",
        }

    def log_likelihood(self, y, eta, params, design):
        sigma = np.asarray(params["sigma"])[:, np.newaxis]
        residual = (y - eta) / sigma
        return -0.5 * residual**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)

    def log_likelihood_internal(self, y, eta, internal, design):
        """The data-scale log-likelihood computed as the workflow always has (same bytes)."""
        sigma = design.y_scale * internal["sigma_std"][:, np.newaxis]
        residual = (y - design.y_center - design.y_scale * eta) / sigma
        return -0.5 * residual**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)

    def simulate(self, eta, params, rng, trials=None):
        return eta + params["sigma"] * rng.standard_normal(len(eta))

    def simulate_internal(self, eta, internal, rng, design):
        return design.y_center + design.y_scale * (eta + internal["sigma_std"] * rng.standard_normal(design.n))

    def latent_residual_variance(self, posterior):
        return posterior["sigma"] ** 2


class Student(Gaussian):
    """Student-t outcome (robust to outliers), identity link; `nu` > 1 and `sigma`, standardised outcome."""

    name = "student"
    parameters = (
        FamilyParameter("sigma", "sigma_std", HALF_STUDENT_T_2_5, outcome_scale=True),
        FamilyParameter("nu", "nu", make_prior("gamma", alpha=2.0, beta=0.1), lower=1.0),
    )
    intercept_prior = STUDENT_T_2_5
    sd_prior = HALF_STUDENT_T_2_5
    legacy_ppc = False

    def likelihood(self, name, eta, params, design):
        import pymc as pm

        return pm.StudentT(name, nu=params["nu"], **self._observed_on_data_scale(eta, params, design))

    def log_likelihood(self, y, eta, params, design):
        sigma = np.asarray(params["sigma"])[:, np.newaxis]
        nu = np.asarray(params["nu"])[:, np.newaxis]
        z = (y - eta) / sigma
        return (
            gammaln((nu + 1) / 2)
            - gammaln(nu / 2)
            - 0.5 * np.log(nu * np.pi)
            - np.log(sigma)
            - (nu + 1) / 2 * np.log1p(z**2 / nu)
        )

    def log_likelihood_internal(self, y, eta, internal, design):
        eta, params = self.data_scale(eta, internal, design)
        return self.log_likelihood(y, eta, params, design)

    def simulate(self, eta, params, rng, trials=None):
        return eta + params["sigma"] * rng.standard_t(params["nu"], len(eta))

    def simulate_internal(self, eta, internal, rng, design):
        return Family.simulate_internal(self, eta, internal, rng, design)

    def ppc_statistics(self, y, codes, counts, n_levels, design):
        mean = _group_mean(y, codes, counts, n_levels)
        return {"mean": mean, "sd": np.sqrt(np.maximum(_group_mean(y**2, codes, counts, n_levels) - mean**2, 0))}

    def latent_residual_variance(self, posterior):
        return None  # sigma^2 nu / (nu - 2) is infinite for nu <= 2, which the posterior allows


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (Bernoulli(), Gaussian(), Binomial(), Poisson(), NegBinomial(), Student(), Cumulative(), Beta())
}
FAMILY_PARAMETER_NAMES = ("sigma", "nu", "shape", "phi")  # scalar (positive) family parameters, summary order


def get_family(family: str | Family) -> Family:
    """The family object of a name (a Family passes through)."""
    if isinstance(family, Family):
        return family
    try:
        return FAMILIES[family]
    except (KeyError, TypeError):
        raise ModelSpecError(f"family must be one of {tuple(FAMILIES)}, got {family!r}") from None


def split_trials(formula: str) -> tuple[str, str | None]:
    """brms's `successes | trials(n) ~ ...`: the formula without `| trials(n)`, and n's column."""
    match = _TRIALS.match(formula)
    if match is None:
        if re.search(r"\btrials\s*\(", formula.split("~")[0]):
            raise ModelSpecError(f"formula '{formula}': write the binomial outcome as 'successes | trials(n) ~ ...'")
        return formula, None
    return f"{match.group(1)} ~{formula[match.end():]}", match.group(2)
