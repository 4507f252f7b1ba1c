"""The fused Bernoulli- and binomial-logit Ops: every backend against the closed form and PyMC's graph,
and their gradient."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import expit, gammaln, log_expit

from homeworkflow.models.backend.bernoulli_logit import (
    BernoulliLogit,
    BinomialLogit,
    bernoulli_logit,
    bernoulli_logit_numpy,
    binomial_logit,
)

ETA = np.array([-800.0, -40.0, -18.5, -1.0, -1e-3, 0.0, 1e-3, 0.7, 18.5, 40.0, 800.0])
Y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])


def expected(y, eta):
    """log p(y | eta) and y - sigmoid(eta) from SciPy's stable log-sigmoid."""
    return y * log_expit(eta) + (1 - y) * log_expit(-eta), y - expit(eta)


PY_MODE = pytensor.compile.mode.Mode(linker="py")


def compiled(mode):
    y, eta = pt.dvector("y"), pt.dvector("eta")
    return pytensor.function([y, eta], list(bernoulli_logit(y, eta)), mode=mode)


def compiled_binomial(mode):
    y, trials, eta = pt.dvector("y"), pt.dvector("trials"), pt.dvector("eta")
    return pytensor.function([y, trials, eta], list(binomial_logit(y, trials, eta)), mode=mode)


def binomial_cases():
    """y at 0, n and between for n = 1, 7 and 30, at |eta| up to 40, and random values."""
    rng = np.random.default_rng(4)
    eta_grid = np.array([-40.0, -18.5, -1.0, 0.0, 0.7, 18.5, 40.0])
    cases = [(y, n, e) for n in (1.0, 7.0, 30.0) for y in sorted({0.0, min(3.0, n), n}) for e in eta_grid]
    y, trials, eta = map(np.array, zip(*cases))
    random_trials = rng.integers(1, 40, 200).astype(float)
    random_y = rng.binomial(random_trials.astype(int), 0.4).astype(float)
    return (
        np.concatenate([y, random_y]),
        np.concatenate([trials, random_trials]),
        np.concatenate([eta, rng.normal(0, 3, 200)]),
    )


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN", "FAST_COMPILE"])
def test_every_backend_matches_the_closed_form_at_extreme_and_ordinary_values(mode):
    rng = np.random.default_rng(1)
    eta = np.concatenate([ETA, rng.normal(0, 3, 200)])
    y = np.concatenate([Y, rng.integers(0, 2, 200).astype(float)])
    loglik, residual = compiled(mode)(y, eta)
    want_loglik, want_residual = expected(y, eta)
    np.testing.assert_allclose(loglik, want_loglik, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(residual, want_residual, rtol=1e-12, atol=1e-15)


def test_the_c_backend_runs_c_code_and_the_python_backend_numpy():
    c_fn, py_fn = compiled("FAST_RUN"), compiled(PY_MODE)
    (node,), (thunk,) = c_fn.maker.fgraph.toposort(), c_fn.vm.thunks
    assert isinstance(node.op, BernoulliLogit) and hasattr(thunk, "cthunk")
    np.testing.assert_array_equal(bernoulli_logit_numpy(Y, ETA)[0], py_fn(Y, ETA)[0])
    for c_out, py_out in zip(c_fn(Y, ETA), py_fn(Y, ETA)):
        np.testing.assert_allclose(c_out, py_out, rtol=1e-13, atol=1e-15)
    binomial_fn = compiled_binomial("FAST_RUN")
    (node,), (thunk,) = binomial_fn.maker.fgraph.toposort(), binomial_fn.vm.thunks
    assert type(node.op) is BinomialLogit and hasattr(thunk, "cthunk")


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN", "FAST_COMPILE"])
def test_bernoulli_is_binomial_with_one_trial_to_the_bit(mode):
    rng = np.random.default_rng(5)
    eta = np.concatenate([ETA, rng.normal(0, 3, 200)])
    y = np.concatenate([Y, rng.integers(0, 2, 200).astype(float)])
    for bernoulli_out, binomial_out in zip(compiled(mode)(y, eta), compiled_binomial(mode)(y, np.ones_like(y), eta)):
        np.testing.assert_array_equal(bernoulli_out, binomial_out)


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN", PY_MODE], ids=["numba", "c", "perform"])
def test_binomial_value_and_gradient_equal_pymc_binomial_graph(mode):
    """The workflow's binomial log density (kernel + log C(n, y)) and its gradient in eta equal those of
    pm.Binomial(n, logit_p=eta), PyTensor's elementwise graph, observation by observation; where that
    graph gives -inf (eta = 40, y < n: 1 - sigmoid(40) rounds to 0) the kernel has the closed form."""
    from homeworkflow.models.backend.build import binomial_logit_logp

    y, trials, eta_values = binomial_cases()
    eta = pt.dvector("eta")
    values = []
    for loglik in (binomial_logit_logp(y, trials, eta), pm.logp(pm.Binomial.dist(n=trials, logit_p=eta), y)):
        values.append(pytensor.function([eta], [loglik, pytensor.grad(loglik.sum(), eta)], mode=mode)(eta_values))
    (fused, fused_grad), (elementwise, elementwise_grad) = values
    finite = np.isfinite(elementwise)
    np.testing.assert_array_equal(~finite, (eta_values == 40.0) & (y < trials))
    # log(1 + e^eta) is 0 below eta = -37 (PyMC's graph: e^eta), and y - n * sigmoid(eta) is 0 at y = n
    # above eta = 37 (PyMC's graph: n * e^-eta): absolute errors below 1e-15 per trial
    np.testing.assert_allclose(fused[finite], elementwise[finite], rtol=1e-12, atol=1e-15 * trials.max())
    np.testing.assert_allclose(fused_grad[finite], elementwise_grad[finite], rtol=1e-12, atol=1e-15 * trials.max())
    y, trials, eta_values = y[~finite], trials[~finite], eta_values[~finite]
    choose = gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)
    closed_form = choose + y * log_expit(eta_values) + (trials - y) * log_expit(-eta_values)
    np.testing.assert_allclose(fused[~finite], closed_form, rtol=1e-12)
    np.testing.assert_allclose(fused_grad[~finite], y - trials * expit(eta_values), rtol=1e-12)


@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA"])
def test_gradient_of_both_outputs_matches_finite_differences(mode):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 30).astype(float)
    weights = rng.normal(size=30)

    def cost(y, eta):
        loglik, residual = bernoulli_logit(y, eta)
        return loglik.sum() + (weights * residual).sum()

    pytensor.gradient.verify_grad(
        cost, [y, rng.normal(0, 2, 30)], rng=rng, mode=mode, eps=1e-7, abs_tol=1e-6, rel_tol=1e-6
    )


@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA"])
def test_binomial_gradient_in_every_input_matches_finite_differences(mode):
    rng = np.random.default_rng(6)
    weights = rng.normal(size=30)

    def cost(y, trials, eta):
        loglik, residual = binomial_logit(y, trials, eta)
        return loglik.sum() + (weights * residual).sum()

    trials = rng.integers(1, 20, 30).astype(float)
    pytensor.gradient.verify_grad(
        cost,
        [rng.binomial(trials.astype(int), 0.5).astype(float), trials, rng.normal(0, 2, 30)],
        rng=rng,
        mode=mode,
        eps=1e-7,
        abs_tol=1e-5,  # one-sided differences of a cost summing up to 20 trials
        rel_tol=1e-5,
    )


def test_gradient_of_the_log_likelihood_is_the_residual():
    eta = pt.dvector("eta")
    loglik, residual = bernoulli_logit(Y, eta)
    grad = pytensor.grad(loglik.sum(), eta)
    np.testing.assert_allclose(pytensor.function([eta], grad)(ETA), expected(Y, ETA)[1], atol=1e-15)


def test_shapes_broadcast_and_reshape():
    eta = pt.dscalar("eta")
    y = np.array([[1.0, 0.0], [0.0, 0.0]])
    loglik, residual = pytensor.function([eta], list(bernoulli_logit(y, eta)))(0.3)
    assert loglik.shape == residual.shape == (2, 2)
    np.testing.assert_allclose(loglik, expected(y, np.full((2, 2), 0.3))[0], rtol=1e-13)


def test_the_model_log_density_equals_pymc_bernoulli():
    """A multilevel logistic model built with the Op has the log density (and gradient) of the same
    model written with pm.Bernoulli."""
    from homeworkflow.models.backend.build import bernoulli_logit_logp

    rng = np.random.default_rng(3)
    x, group = rng.normal(size=50), rng.integers(0, 5, 50)
    y = rng.integers(0, 2, 50)
    models = []
    for fused in (True, False):
        with pm.Model() as model:
            eta = multilevel_predictor(x, group)
            if fused:
                pm.CustomDist("y", eta, logp=bernoulli_logit_logp, observed=y)
            else:
                pm.Bernoulli("y", logit_p=eta, observed=y)
        models.append(model)
    assert_same_log_density(models, {"b": np.array([0.2, -1.1]), "u": rng.normal(size=5)})


def test_the_model_log_density_equals_pymc_binomial():
    from homeworkflow.models.backend.build import binomial_logit_logp

    rng = np.random.default_rng(3)
    x, group = rng.normal(size=50), rng.integers(0, 5, 50)
    trials = rng.integers(1, 30, 50)
    y = rng.binomial(trials, 0.3)
    models = []
    for fused in (True, False):
        with pm.Model() as model:
            eta = multilevel_predictor(x, group)
            if fused:
                pm.CustomDist("y", trials, eta, logp=binomial_logit_logp, observed=y)
            else:
                pm.Binomial("y", n=trials, logit_p=eta, observed=y)
        models.append(model)
    assert_same_log_density(models, {"b": np.array([0.2, -1.1]), "u": rng.normal(size=5)})


def multilevel_predictor(x, group):
    b = pm.Normal("b", 0, 1, shape=2)
    u = pm.Normal("u", 0, 1, shape=5)
    return b[0] + b[1] * x + u[group]


def assert_same_log_density(models, point):
    values = [m.compile_logp()(point) for m in models]
    grads = [m.compile_dlogp()(point) for m in models]
    np.testing.assert_allclose(values[0], values[1], rtol=1e-12)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10)


def test_the_jax_implementation_matches():
    pytest.importorskip("jax")
    from homeworkflow.models.backend.bernoulli_logit import register_jax

    register_jax()
    loglik, residual = compiled("JAX")(Y, ETA)
    want_loglik, want_residual = expected(Y, ETA)
    np.testing.assert_allclose(loglik, want_loglik, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(residual, want_residual, rtol=1e-12, atol=1e-15)
    y, trials, eta = binomial_cases()
    for jax_out, py_out in zip(compiled_binomial("JAX")(y, trials, eta), compiled_binomial(PY_MODE)(y, trials, eta)):
        np.testing.assert_allclose(jax_out, py_out, rtol=1e-12, atol=1e-14)
