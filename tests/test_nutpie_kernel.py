"""nutpie on the generic kernel: sampling a model needs no per-model compile, and the saved
unconstrained draws map back to the model's variables."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from homeworkflow.models import ModelSpec
from homeworkflow.models.fit import _prepared

DATA = "tests/data/sleepstudy.csv"


@pytest.fixture(scope="module")
def sleepstudy():
    data = pd.read_csv(DATA)
    spec = ModelSpec.from_config("sleepstudy", {"formula": "Reaction ~ Days + (Days | Subject)", "family": "gaussian"})
    family, design, priors, geometry, build = _prepared(data, spec)
    return build(), design, family, priors, geometry


def test_kernel_model_samples_and_maps_back_to_the_model_variables(sleepstudy):
    import nutpie

    from homeworkflow.models.backend.kernel import pack
    from homeworkflow.models.backend.nutpie_kernel import compile_kernel_model, constrained_posterior

    model, design, family, priors, geometry = sleepstudy
    compiled = compile_kernel_model(model, pack(model, design, family, priors))
    idata = nutpie.sample(compiled, draws=200, tune=300, chains=2, cores=1, seed=3, progress_bar=False)
    posterior = constrained_posterior(model, idata.posterior)
    for name in ("Intercept_std", "b_std", "sd_std", "z_0", "z_1", "cor_chol_0", "sigma_std"):
        assert name in posterior
    np.testing.assert_allclose(posterior["sd_std"], np.exp(idata.posterior["sd_std_log__"]), rtol=1e-12)
    assert posterior["sd_std"].dims == ("chain", "draw", "sd_term")
    assert int(idata.sample_stats.diverging.sum()) == 0
    # a clear slope of reaction time on days, as lme4 finds (b = 10.5 ms per day, SD of Reaction 56)
    assert 0.4 < float(posterior["b_std"].mean()) < 0.7


CALLBACK_CACHE_HITS = (
    "from homeworkflow.models.backend.kernel import c_callbacks\n"
    "print(*(callback.cache_hits for callback in c_callbacks()))"
)


def _callback_cache_hits(src: Path, **env) -> list[str]:
    """The callbacks' numba cache hits in a new process importing the package from `src`."""
    env = {**os.environ, "PYTHONPATH": str(src), **env}
    run = subprocess.run([sys.executable, "-c", CALLBACK_CACHE_HITS], capture_output=True, text=True, check=True, env=env)
    return run.stdout.split()


def test_callbacks_load_from_the_disk_cache_in_a_new_process():
    """A job loads nutpie's two callbacks from numba's cache (0.03 s) instead of compiling them
    (1.4 s): a closure's cache entry never matched in a new process."""
    _callback_cache_hits(Path("src"))
    assert _callback_cache_hits(Path("src")) == ["1", "1"]


@pytest.mark.slow
def test_callbacks_follow_a_changed_kernel(tmp_path):
    """After kernel.py changes, the callbacks are compiled again rather than loaded with the old
    kernel inside them (numba checks a cached function against its own file only)."""
    src = tmp_path / "src"
    shutil.copytree("src", src, ignore=shutil.ignore_patterns("__pycache__"))
    cache = str(tmp_path / "numba")
    _callback_cache_hits(src, NUMBA_CACHE_DIR=cache)
    assert _callback_cache_hits(src, NUMBA_CACHE_DIR=cache) == ["1", "1"]
    kernel = src / "homeworkflow" / "models" / "backend" / "kernel.py"
    kernel.write_text(kernel.read_text() + "\n# changed\n")
    assert _callback_cache_hits(src, NUMBA_CACHE_DIR=cache) == ["0", "0"]
