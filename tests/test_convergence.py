"""The vectorised convergence diagnostics equal ArviZ's, parameter by parameter."""

import arviz as az
import numpy as np
import pytest

from homeworkflow.models.posterior import convergence


def ar1_draws(rng, chains, draws, phis, offsets=None):
    """(chain, draw, parameter) AR(1) chains, one autocorrelation per parameter."""
    phis = np.asarray(phis)
    out = np.empty((chains, draws, len(phis)))
    out[:, 0] = rng.normal(size=(chains, len(phis)))
    for t in range(1, draws):
        out[:, t] = phis * out[:, t - 1] + rng.normal(size=(chains, len(phis)))
    if offsets is not None:
        out += offsets  # per-chain offsets: chains that disagree
    return out


def arviz_values(draws):
    ds = az.convert_to_dataset({"x": draws})
    return (
        az.rhat(ds)["x"].values,
        az.ess(ds, method="bulk")["x"].values,
        az.ess(ds, method="tail")["x"].values,
    )


CASES = {
    "mixing and sticky chains": dict(chains=4, draws=500, phis=[0.0, 0.3, 0.9, 0.99, -0.5, -0.95]),
    "odd draw count": dict(chains=3, draws=101, phis=[0.2, 0.95]),
    "short chains": dict(chains=2, draws=9, phis=[0.1, 0.8]),
    "one chain": dict(chains=1, draws=200, phis=[0.5]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_equal_to_arviz(case):
    draws = ar1_draws(np.random.default_rng(1), **CASES[case])
    expected = arviz_values(draws)
    got = convergence.diagnose(draws)
    for name, e, g in zip(("rhat", "ess_bulk", "ess_tail"), expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-9, equal_nan=True, err_msg=name)


def test_equal_to_arviz_for_disagreeing_chains_constants_ties_and_nan():
    rng = np.random.default_rng(2)
    draws = ar1_draws(rng, 4, 300, [0.5, 0.5, 0.5, 0.5, 0.5])
    draws[:, :, 0] += np.array([0.0, 0.0, 3.0, 3.0])[:, None]  # two modes: R-hat far above 1
    draws[:, :, 1] = 2.5  # constant
    draws[:, :, 2] = np.round(draws[:, :, 2])  # heavy ties (a discrete quantity)
    draws[0, 7, 3] = np.nan
    expected = arviz_values(draws)
    got = convergence.diagnose(draws)
    for name, e, g in zip(("rhat", "ess_bulk", "ess_tail"), expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-9, equal_nan=True, err_msg=name)
    assert got.rhat[0] > 1.5 and np.isnan(got.ess_bulk[3])


def test_average_ranks_equal_scipys_with_ties():
    from scipy.stats import rankdata

    rows = np.random.default_rng(4).integers(0, 5, size=(3, 50)).astype(float)
    np.testing.assert_array_equal(convergence._average_ranks(rows), rankdata(rows, axis=1))


def test_too_few_draws_is_nan_and_bad_shapes_are_an_error():
    assert np.isnan(convergence.diagnose(np.ones((2, 3, 2)))).all()
    with pytest.raises(ValueError, match="chain, draw, parameter"):
        convergence.diagnose(np.ones(5))


def test_bfmi_equal_to_arviz():
    rng = np.random.default_rng(4)
    energy = np.cumsum(rng.normal(size=(4, 500)), axis=1) * 0.1 + rng.normal(size=(4, 500))
    np.testing.assert_allclose(convergence.bfmi(energy), az.bfmi(energy), rtol=1e-12)
    assert convergence.bfmi(energy[0]).shape == (1,)


@pytest.mark.parametrize("workers", [2, 3, 50])
def test_threads_share_the_parameters_without_changing_a_value(workers):
    draws = ar1_draws(np.random.default_rng(4), 4, 200, [0.3, 0.9, 0.5, 0.1, 0.7])
    draws[:, :, 1] = 2.5
    serial, threaded = convergence.diagnose(draws), convergence.diagnose(draws, workers=workers)
    for s, t in zip(serial, threaded):
        np.testing.assert_array_equal(s, t)
