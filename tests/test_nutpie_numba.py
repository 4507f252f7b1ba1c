"""The fast-compiling nutpie callbacks sample exactly what nutpie's own do."""

import numpy as np
import pymc as pm
import pytest

nutpie = pytest.importorskip("nutpie")

from homeworkflow.models import nutpie_numba  # noqa: E402


def small_model():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 6, 80)
    y = rng.normal(1 + rng.normal(0, 0.5, 6)[g], 1)
    with pm.Model(coords={"g": range(6)}) as model:
        mu = pm.Normal("mu", 0, 5)
        sd = pm.HalfNormal("sd", 1)
        z = pm.Normal("z", 0, 1, dims="g")
        sigma = pm.HalfNormal("sigma", 2)
        pm.Deterministic("effect", sd * z, dims="g")
        pm.Normal("y", mu + sd * z[g], sigma, observed=y)
    return model


def draws(compiled):
    idata = nutpie.sample(compiled, draws=40, tune=40, chains=1, cores=1, seed=5, progress_bar=False)
    return {name: idata.posterior[name].values for name in ("mu", "sd", "z", "sigma", "effect")}


def test_fast_callbacks_sample_the_same_draws_as_nutpies_own():
    model = small_model()
    own = draws(nutpie.compile_pymc_model(model, backend="numba"))
    fast = draws(nutpie_numba.compile_nutpie_numba(model))
    for name in own:
        np.testing.assert_array_equal(fast[name], own[name], err_msg=name)


def test_fast_callbacks_keep_var_names_and_restore_nutpie():
    from nutpie import compile_pymc

    own = compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func
    compiled = nutpie_numba.compile_nutpie_numba(small_model(), var_names=["mu", "effect"])
    saved = set(draws_of(compiled))
    assert {"mu", "effect"} <= saved and not {"sd", "sigma"} & saved
    assert (compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func) == own


def draws_of(compiled):
    idata = nutpie.sample(compiled, draws=10, tune=10, chains=1, cores=1, seed=1, progress_bar=False)
    return idata.posterior.data_vars


def test_written_for_the_locked_nutpie():
    """Upgrading nutpie must mean re-checking its callbacks (compile_pymc.py) against ours."""
    assert nutpie.__version__ == nutpie_numba.NUTPIE_VERSION


def test_other_nutpie_versions_compile_with_nutpies_own_callbacks(monkeypatch):
    from nutpie import compile_pymc

    seen = []
    monkeypatch.setattr(nutpie, "__version__", "0.0.1")
    monkeypatch.setattr(
        nutpie,
        "compile_pymc_model",
        lambda model, backend, **kwargs: seen.append(compile_pymc._make_c_logp_func),
    )
    nutpie_numba.compile_nutpie_numba(None)
    assert seen == [compile_pymc._make_c_logp_func] and seen[0] is not nutpie_numba._make_c_logp_func
