"""The fast-compiling nutpie callbacks sample exactly what nutpie's own do."""

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pymc as pm
import pytest

nutpie = pytest.importorskip("nutpie")

from homeworkflow.models.backend import nutpie_numba  # noqa: E402


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


COMPILE_IN_NEW_PROCESS = """
import json, sys
sys.path.insert(0, {tests!r})
from test_nutpie_numba import draws, small_model
from homeworkflow.models.backend import nutpie_numba
compiled = nutpie_numba.compile_nutpie_numba(small_model(), rebuild=small_model)
hits = [f.cache_hits for f in (compiled.compiled_logp_func, compiled.compiled_expand_func)]
print(json.dumps({{"hits": hits, "draws": {{k: v.tolist() for k, v in draws(compiled).items()}}}}))
"""


def in_new_process(script: str, cache_dir: Path) -> dict:
    """Run `script` (formatted with this folder as `tests`, given `cache_dir` as its argument) in a
    fresh Python process whose compile caches are `cache_dir`; the JSON of its last line."""
    tests = Path(__file__).parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests.parent / "src"), str(tests)]),  # the child unpickles small_model
        "PYTENSOR_FLAGS": f"base_compiledir={cache_dir}",
        "NUMBA_CACHE_DIR": str(cache_dir),
    }
    command = [sys.executable, "-c", script.format(tests=str(tests)), str(cache_dir)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_disk_cache_gives_the_same_draws_cold_and_warm(tmp_path):
    """A cold cache (callbacks compiled by a child process, then loaded) and a warm one (loaded)
    run the same code: identical draws, equal to nutpie's own callbacks' up to fastmath rounding."""
    cold, warm = in_new_process(COMPILE_IN_NEW_PROCESS, tmp_path), in_new_process(COMPILE_IN_NEW_PROCESS, tmp_path)
    assert len(list(tmp_path.rglob("nutpie_numba._logp_callback-nutpie-*.nbi"))) == 1
    assert cold["hits"] == warm["hits"] == [1, 1]
    assert warm["draws"] == cold["draws"]
    own = draws(nutpie.compile_pymc_model(small_model(), backend="numba"))
    for name, values in own.items():
        np.testing.assert_allclose(np.asarray(warm["draws"][name]), values, rtol=1e-6, err_msg=name)


def test_disk_cache_falls_back_to_compiling_here_when_the_child_fails(monkeypatch, caplog):
    modes = []

    def cold_cache(model, cache_mode, kwargs, fill_cache=None):
        modes.append(cache_mode)
        if cache_mode == "load":
            fill_cache()
            raise nutpie_numba._NotCached("callback")
        return compile_(model, cache_mode, kwargs)

    compile_ = nutpie_numba._compile
    monkeypatch.setattr(nutpie_numba, "_compile", cold_cache)
    failing_rebuild = partial(exec, "raise MemoryError")  # the child process fails building the model
    with caplog.at_level("WARNING", logger=nutpie_numba.__name__):
        compiled = nutpie_numba.compile_nutpie_numba(tiny_model(), rebuild=failing_rebuild)
    assert modes == ["load", "save"] and "the compiling process failed (MemoryError)" in caplog.text
    assert set(draws_of(compiled)) == {"mu"}


def tiny_model():
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1, observed=np.random.default_rng(11).normal(size=17))
    return model


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


def test_a_custom_distribution_model_compiles_in_the_child(caplog):
    """The workflow's bernoulli likelihood is a pm.CustomDist, which loses its log density when
    pickled: the child builds the model from `rebuild` instead of receiving it."""
    import cloudpickle

    rebuild = partial(custom_dist_model, np.random.default_rng().integers(0, 2, 23).astype(float))
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the child cannot import this module
    try:
        with caplog.at_level("WARNING", logger=nutpie_numba.__name__):
            compiled = nutpie_numba.compile_nutpie_numba(rebuild(), rebuild=rebuild)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert "not loaded from disk" not in caplog.text
    assert compiled.compiled_logp_func.cache_hits == 1


def custom_dist_model(y):
    from homeworkflow.models.backend.build import bernoulli_logit_logp

    with pm.Model() as model:
        eta = pm.Normal("eta")
        pm.CustomDist("y", eta, logp=bernoulli_logit_logp, observed=y)
    return model
