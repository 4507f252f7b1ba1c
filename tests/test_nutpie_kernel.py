"""nutpie on the generic kernel: sampling a model needs no per-model compile, and the saved
unconstrained draws map back to the model's variables."""

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
