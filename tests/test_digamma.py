"""The cacheable numba digamma (backend/digamma.py) and what it is for: student, negbinomial and
beta models whose log-density function numba can keep on disk."""

import numpy as np
import pandas as pd
import pytensor
import pytest
from scipy import special

from homeworkflow.models import ModelSpec
from homeworkflow.models.backend.build import build_model
from homeworkflow.models.fit import model_inputs


def numba_psi(x: np.ndarray) -> np.ndarray:
    """pytensor's psi compiled by its numba backend, which now runs `digamma`."""
    import pytensor.tensor as pt

    v = pt.dvector("v")
    return pytensor.function([v], pt.psi(v), mode="NUMBA")(np.asarray(x, dtype=float))


def test_digamma_matches_scipy():
    positive = np.concatenate([np.geomspace(1e-8, 1e6, 400), [1.4616321449683622]])  # and the root
    np.testing.assert_allclose(numba_psi(positive), special.psi(positive), rtol=1e-13, atol=1e-14)
    negative = 0.37 - np.geomspace(1e-3, 50, 200)  # reflection, ill-conditioned near the poles
    np.testing.assert_allclose(numba_psi(negative), special.psi(negative), rtol=1e-11)


def test_digamma_poles_as_scipy():
    at_poles = numba_psi([0.0, -3.0, np.nan])
    assert at_poles[0] == -np.inf and np.isnan(at_poles[1:]).all()


@pytest.mark.parametrize("family", ["student", "negbinomial", "beta", "bernoulli", "cumulative"])
def test_every_node_of_the_log_density_has_a_numba_cache_key(family):
    """Without one, numba compiles the whole log-density function again in every job."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "g": [f"g{i % 5}" for i in range(40)],
            "y": rng.normal(size=40),
            "count": rng.poisson(3, 40),
            "share": rng.uniform(0.1, 0.9, 40),
            "yes": rng.integers(0, 2, 40),
            "rating": rng.integers(1, 4, 40),
        }
    )
    outcome = {"student": "y", "negbinomial": "count", "beta": "share", "bernoulli": "yes", "cumulative": "rating"}
    spec = ModelSpec.from_config("m", {"formula": f"{outcome[family]} ~ x + (1 | g)", "family": family})
    family_object, design, priors = model_inputs(data, spec)
    model = build_model(design, family_object, priors)
    logp = model.logp()
    function = pytensor.function(model.value_vars, [logp, *pytensor.grad(logp, model.value_vars)], mode="NUMBA")
    missing = [
        str(node.op)
        for node in function.maker.fgraph.apply_nodes
        if numba_funcify_and_cache_key(node.op, node=node)[1] is None
    ]
    assert not missing
