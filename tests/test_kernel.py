"""The generic numba log density (models/backend/kernel.py) equals PyMC's for every kind of model.

Each model is built by `build_model`, packed, and its log density and gradient compared with PyMC's
`compile_logp` / `compile_dlogp` (Jacobians included) at the initial point and 5 random points
(N(0, 0.5^2) in the unconstrained space), to rtol = atol = 1e-9.

The reference is built under `autocast_float_as("float64")` and compiled in FAST_COMPILE mode (NumPy
and SciPy per node): by default PyTensor makes float32 constants of parameters such as 2.5 and folds
e.g. log(sigma) or sigma^-2 in float32 (up to 1e-7 off in the log density, 2e-8 relative in a
student_t prior's gradient), and its C digamma is accurate to about 1e-8 only; the kernel computes
in float64 throughout.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymc.blocking import DictToArrayBijection
from pytensor.scalar.basic import autocast_float_as

from homeworkflow.models.backend import kernel
from homeworkflow.models.backend.build import build_model
from homeworkflow.models.fit import model_inputs
from homeworkflow.models.spec.model import ModelSpec

DATA = Path(__file__).parent / "data"


def _synthetic(seed=0, n=120, groups=8, h_groups=5):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "x3": rng.normal(size=n),
            "g": [f"g{k}" for k in rng.integers(groups, size=n)],
            "h": [f"h{k}" for k in rng.integers(h_groups, size=n)],
        }
    )
    frame["y"] = 1.0 + 0.5 * frame.x1 - 0.3 * frame.x2 + rng.normal(size=n)
    frame["share"] = 1.0 / (1.0 + np.exp(-(0.3 * frame.x1 + rng.normal(scale=0.5, size=n))))
    frame["count"] = rng.poisson(np.exp(0.5 + 0.3 * frame.x1))
    return frame


def _prior(dist, **params):
    return {"dist": dist, **params}


SPLIT_PRIORS = {
    "x2": _prior("student_t", nu=4, mu=0.5, sigma=1.5),  # b_std_0 = [x1, x3], b_std_1 = [x2]
    "sd(g)": _prior("halfnormal", sigma=0.7),
    "sd(g)[x1]": _prior("exponential", lam=2.0),
    "sd(g)[x2]": _prior("gamma", alpha=2.0, beta=3.0),
    "sd(h)": _prior("halfstudent_t", nu=5, sigma=0.8),
    "cor(g)": _prior("lkj", eta=2.0),
}

# name -> (data, formula, family, extra config, centred flags)
CASES = {
    "gaussian_sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian", {}, ()),
    "student_sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "student", {}, ()),
    "binomial_cbpp": ("cbpp", "incidence | trials(size) ~ C(period) + (1 | herd)", "binomial", {}, ()),
    "binomial_cbpp_centred": ("cbpp", "incidence | trials(size) ~ C(period) + (1 | herd)", "binomial", {}, (True,)),
    "poisson_epilepsy": ("epilepsy", "count ~ zAge + zBase * Trt + (1 | patient)", "poisson", {}, ()),
    "negbinomial_epilepsy": ("epilepsy", "count ~ zAge + zBase * Trt + (1 | patient)", "negbinomial", {}, ()),
    "cumulative_inhaler": ("inhaler", "rating ~ treat + period + carry + (1 | subject)", "cumulative", {}, ()),
    "bernoulli_contraception": (
        "contraception",
        "use ~ age + I(age^2) + urban + livch + (1 | district)",
        "bernoulli",
        {},
        (),
    ),
    "bernoulli_guimmun_centred": (
        "guimmun",
        "immun ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork + rural + pcInd81 + (1 | mom) + (1 | comm)",
        "bernoulli",
        {},
        (False, True),
    ),
    "beta_synthetic": ("synthetic", "share ~ x1 + (1 | g)", "beta", {}, ()),
    "gaussian_two_blocks_split_priors": (
        "synthetic",
        "y ~ x1 + x2 + x3 + (x1 + x2 | g) + (1 + x3 | h)",
        "gaussian",
        {"priors": SPLIT_PRIORS},
        (),
    ),
    "student_three_terms_centred": (
        "synthetic",
        "y ~ x1 + (1 + x1 + x2 | g) + (1 | h)",
        "student",
        {"priors": {"sd": _prior("gamma", alpha=2.0, beta=2.0)}},
        (False, False, False, True),
    ),
    "poisson_no_group_effects": ("synthetic", "count ~ x1 + x2", "poisson", {}, ()),
    "negbinomial_no_terms": ("synthetic", "count ~ 1 + (1 | g)", "negbinomial", {}, ()),
    "cumulative_slope": ("inhaler", "rating ~ treat + (1 + period | subject)", "cumulative", {}, ()),
}


def _data(name):
    return _synthetic() if name == "synthetic" else pd.read_csv(DATA / f"{name}.csv")


def _model(case):
    data, formula, family_name, extra, centred = CASES[case]
    spec = ModelSpec.from_config(case, {"formula": formula, "family": family_name, **extra})
    family, design, priors = model_inputs(_data(data), spec)
    with autocast_float_as("float64"):
        model = build_model(design, family, priors, centred)
        logp = model.compile_logp(jacobian=True, mode="FAST_COMPILE")
        dlogp = model.compile_dlogp(jacobian=True, mode="FAST_COMPILE")
    return model, kernel.pack(model, design, family, priors), logp, dlogp


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_pymc(case):
    model, packed, logp, dlogp = _model(case)
    start = model.initial_point()
    raveled = DictToArrayBijection.map(start)
    assert packed.n_dim == raveled.data.size
    rng = np.random.default_rng(sum(map(ord, case)))
    points = [raveled.data] + [rng.normal(size=packed.n_dim) * 0.5 for _ in range(5)]
    for x in points:
        point = DictToArrayBijection.rmap(raveled._replace(data=x), start)
        value, grad = packed.logp_and_grad(x)
        np.testing.assert_allclose(value, logp(point), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9, atol=1e-9)


def test_one_compiled_kernel_serves_every_model():
    """Models of different families and shapes run through the same compiled function."""
    for case in ("binomial_cbpp", "gaussian_two_blocks_split_priors"):
        _, packed, _, _ = _model(case)
        packed.logp_and_grad(np.zeros(packed.n_dim))
    assert len(kernel.logp_and_grad.signatures) == 1


def test_pack_lays_out_the_value_variables_in_order():
    """x's elements follow model.value_vars (nutpie's order), whatever the pieces of a split prior."""
    model, packed, _, _ = _model("gaussian_two_blocks_split_priors")
    names = [v.name for v in model.value_vars]
    assert names[:5] == ["Intercept_std", "b_std_0", "b_std_1", "sd_std_0_log__", "sd_std_1_log__"]
    assert packed.idata.dtype == np.int64 and packed.fdata.dtype == np.float64
    assert packed.idata[kernel.H_FAMILY] == kernel.GAUSSIAN
    beta = packed.idata[packed.idata[kernel.H_BETA] : packed.idata[kernel.H_BETA] + 3]
    assert list(beta) == [1, 3, 2]  # x1, x3 in b_std_0 (positions 1, 2), x2 in b_std_1 (3)
