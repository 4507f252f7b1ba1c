"""The fused Bernoulli-logit Op: every backend against the closed form, and its gradient."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import expit, log_expit

from homeworkflow.models.backend.bernoulli_logit import BernoulliLogit, bernoulli_logit, bernoulli_logit_numpy

ETA = np.array([-800.0, -40.0, -18.5, -1.0, -1e-3, 0.0, 1e-3, 0.7, 18.5, 40.0, 800.0])
Y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])


def expected(y, eta):
    """log p(y | eta) and y - sigmoid(eta) from SciPy's stable log-sigmoid."""
    return y * log_expit(eta) + (1 - y) * log_expit(-eta), y - expit(eta)


def compiled(mode):
    y, eta = pt.dvector("y"), pt.dvector("eta")
    return pytensor.function([y, eta], list(bernoulli_logit(y, eta)), mode=mode)


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
    c_fn, py_fn = compiled("FAST_RUN"), compiled(pytensor.compile.mode.Mode(linker="py"))
    (node,), (thunk,) = c_fn.maker.fgraph.toposort(), c_fn.vm.thunks
    assert isinstance(node.op, BernoulliLogit) and hasattr(thunk, "cthunk")
    np.testing.assert_array_equal(bernoulli_logit_numpy(Y, ETA)[0], py_fn(Y, ETA)[0])
    for c_out, py_out in zip(c_fn(Y, ETA), py_fn(Y, ETA)):
        np.testing.assert_allclose(c_out, py_out, rtol=1e-13, atol=1e-15)


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
            b = pm.Normal("b", 0, 1, shape=2)
            u = pm.Normal("u", 0, 1, shape=5)
            eta = b[0] + b[1] * x + u[group]
            if fused:
                pm.CustomDist("y", eta, logp=bernoulli_logit_logp, observed=y)
            else:
                pm.Bernoulli("y", logit_p=eta, observed=y)
        models.append(model)
    point = {"b": np.array([0.2, -1.1]), "u": rng.normal(size=5)}
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
