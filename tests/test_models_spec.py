"""Model layer without sampling: formula parsing, term names, errors before sampling, back-transform."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from homeworkflow.models import ModelSpec, ModelSpecError
from homeworkflow.models.spec.formula import build_design
from homeworkflow.models.spec.priors import resolve_priors


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n = 120
    return pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "score": rng.normal(10, 3, n),
            "age": rng.normal(40, 12, n),
            "arm": rng.choice(["control", "cbt", "pdt"], n),
            "female": rng.random(n) < 0.5,
            "therapist": rng.integers(0, 8, n),
            "client": rng.integers(0, 30, n),
        }
    )


def design(data, formula, family="bernoulli", **refs):
    return build_design(data, formula, family, refs)


def test_term_names_follow_lme4_conventions(data):
    d = design(data, "y ~ age + I(age^2) + arm + female + (1 | therapist)")
    assert d.terms == ["age", "I(age**2)", "arm[control]", "arm[pdt]", "female[True]"]
    assert [e.label for e in d.group_effects] == ["sd(therapist)"]
    assert d.has_intercept


def test_interactions_and_products(data):
    d = design(data, "y ~ age * arm + score:female")
    assert d.terms == [
        "age",
        "arm[control]",
        "arm[pdt]",
        "age:arm[control]",
        "age:arm[pdt]",
        "score:female[False]",
        "score:female[True]",
    ]


def test_python_and_r_powers_give_the_same_term(data):
    r_style = design(data, "y ~ I(age^2)")
    python_style = design(data, "y ~ I(age ** 2)")
    assert r_style.terms == python_style.terms == ["I(age**2)"]
    np.testing.assert_allclose(r_style.X, python_style.X)


def test_reference_level_override(data):
    d = design(data, "y ~ arm", arm="control")
    assert d.terms == ["arm[cbt]", "arm[pdt]"]


def test_nested_groups_and_slopes(data):
    d = design(data, "y ~ score + (1 | therapist/client) + (0 + score | therapist)")
    labels = [e.label for e in d.group_effects]
    assert labels == ["sd(therapist)", "sd(therapist:client)", "sd(therapist)[score]"]
    assert d.correlation_blocks == []  # separate bars: independent
    nested = d.group_effects[1]
    expected = data.groupby(["therapist", "client"]).ngroups
    assert len(nested.levels) == expected
    assert nested.levels[0] == "0:{}".format(sorted(data.client[data.therapist == 0])[0])


def test_yes_no_and_bool_outcomes_map_to_one_zero(data):
    yn = data.assign(y=np.where(data.y == 1, "Y", "N"))
    np.testing.assert_array_equal(design(yn, "y ~ age").y, data.y.to_numpy(dtype=float))
    as_bool = data.assign(y=data.y == 1)
    np.testing.assert_array_equal(design(as_bool, "y ~ age").y, data.y.to_numpy(dtype=float))


@pytest.mark.parametrize(
    ("formula", "change", "message"),
    [
        ("y ~ age + dose + (1 | therapist)", None, "not in the data: \\['dose'\\]"),
        ("y ~ age + + (1 |", None, "cannot parse formula"),
        ("y ~ age + (x - 1 | therapist)", None, "cannot parse formula"),
        ("y ~ age + offset(score)", None, "offsets are not supported"),
        ("y ~ age + site", {"site": "A"}, "predictor 'site' is constant"),
        ("y ~ age + score", {"score": 1.0}, "predictor 'score' is constant"),
        ("y ~ age + (1 | site)", {"site": "A"}, "grouping factor 'site' has a single level"),
        ("y ~ age", {"y": 2}, "must be 0/1, bool or Y/N"),
        ("y ~ age", {"y": 0}, "outcome 'y' is always 0"),
    ],
)
def test_errors_before_sampling(data, formula, change, message):
    if change:
        data = data.assign(**change)
    with pytest.raises(ModelSpecError, match=message):
        design(data, formula)


def test_missing_values_name_column_and_count(data):
    data.loc[[3, 7, 11], "score"] = np.nan
    with pytest.raises(ModelSpecError, match="column 'score' has 3 missing value"):
        design(data, "y ~ age + score")


def test_unknown_reference_level(data):
    with pytest.raises(ModelSpecError, match="'waitlist' is not a level of 'arm'"):
        design(data, "y ~ arm", arm="waitlist")


def test_complete_separation_warns(data):
    data.loc[data.arm == "pdt", "y"] = 1
    with pytest.warns(UserWarning, match="complete separation.*arm == 'pdt'"):
        design(data, "y ~ age + arm")


def test_gaussian_outcome_must_be_numeric(data):
    with pytest.raises(ModelSpecError, match="gaussian outcome 'arm' must be numeric"):
        design(data, "arm ~ age", family="gaussian")


CFG = {"formula": "y ~ age + (1 | therapist)", "family": "bernoulli"}


def test_from_config_defaults_and_data_key_ignored():
    spec = ModelSpec.from_config("m", {**CFG, "data": "results/sessions.parquet"})
    assert (spec.sampler, spec.chains, spec.draws, spec.tune, spec.target_accept) == (
        "nutpie",
        4,
        1000,
        1000,
        0.9,
    )
    assert spec.gate.max_rhat == 1.01 and spec.gate.on_fail == "warn"
    assert spec.save_group_effects and spec.mass_matrix == "auto"


@pytest.mark.parametrize("mass_matrix, low_rank", [("low_rank", True), ("diagonal", False)])
def test_mass_matrix_setting_reaches_nutpie(monkeypatch, mass_matrix, low_rank):
    import nutpie

    from homeworkflow.models.backend.sampling import run_sampler

    calls = []
    _kernel_without_model(monkeypatch)
    monkeypatch.setattr(nutpie, "sample", lambda compiled, **kwargs: calls.append(kwargs) or SimpleNamespace(posterior="unconstrained"))
    spec = ModelSpec.from_config("m", {**CFG, "mass_matrix": mass_matrix})
    assert run_sampler(None, spec, threads=1, packed="packed")[0].posterior == "constrained"
    assert calls[0]["low_rank_modified_mass_matrix"] is low_rank


def _kernel_without_model(monkeypatch):
    """nutpie's sampling path with the kernel's compile and mapping back stubbed out."""
    from homeworkflow.models.backend import nutpie_kernel

    monkeypatch.setattr(nutpie_kernel, "compile_kernel_model", lambda model, packed: "compiled")
    monkeypatch.setattr(nutpie_kernel, "constrained_posterior", lambda model, posterior: "constrained")


def test_chains_sample_with_one_blas_thread(monkeypatch):
    """OpenBLAS threads per chain oversubscribe the cores: 2.5x slower gradients at 1e5 sessions."""
    import nutpie
    from threadpoolctl import threadpool_info, threadpool_limits

    from homeworkflow.models.backend.sampling import run_sampler

    def blas_threads():
        return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    inside = []
    _kernel_without_model(monkeypatch)
    monkeypatch.setattr(nutpie, "sample", lambda compiled, **kwargs: inside.append(blas_threads()) or SimpleNamespace(posterior="unconstrained"))
    spec = ModelSpec.from_config("m", CFG)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        run_sampler(None, spec, threads=2, packed="packed")
        after = blas_threads()
    assert before and set(before.values()) == {2}
    assert set(inside[0].values()) == {1}
    assert after == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"draw": 10}, "unknown config key\\(s\\) \\['draw'\\]"),
        ({"family": "hurdle_poisson"}, "family must be one of"),
        ({"sampler": "stan"}, "sampler must be one of"),
        ({"mass_matrix": "dense"}, "mass_matrix must be one of"),
        ({"save_log_likelihood": "no"}, "save_log_likelihood must be true or false"),
        ({"chains": 0}, "'chains' must be an integer of at least 1"),
        ({"gate": {"max_rhat": 1.01, "rhat": 2}}, "unknown gate key"),
        ({"gate": {"on_fail": "ignore"}}, "on_fail must be"),
        ({"gate": {"extend": -1}}, "gate.extend must be a whole number"),
        ({"gate": {"extend": 1.5}}, "gate.extend must be a whole number"),
        ({"priors": {"sd": {"dist": "normal", "sigma": 1}}}, "dist 'normal' not allowed here"),
        ({"priors": {"age": {"dist": "normal"}}}, "needs parameter"),
        ({"priors": {"age": {"dist": "normal", "sigma": -1}}}, "must be positive"),
        ({"priors": {"age": {"dist": "laplace", "sigma": 1}}}, "unknown dist"),
    ],
)
def test_config_errors(extra, message):
    with pytest.raises(ModelSpecError, match=message):
        ModelSpec.from_config("m", {**CFG, **extra})


def test_formula_is_required():
    with pytest.raises(ModelSpecError, match="'formula'"):
        ModelSpec.from_config("m", {"family": "gaussian"})


def test_prior_overrides_resolve_per_term():
    spec = ModelSpec.from_config(
        "m",
        {
            **CFG,
            "priors": {
                "b": {"dist": "normal", "sigma": 1},
                "age": {"dist": "student_t", "nu": 3, "sigma": 2},
                "sd(therapist)": {"dist": "exponential", "lam": 2},
            },
        },
    )
    priors = resolve_priors("bernoulli", spec.priors, ["age", "arm[pdt]"], ["sd(therapist)"])
    assert [str(p) for p in priors.slopes] == ["student_t(mu=0, nu=3, sigma=2)", "normal(mu=0, sigma=1)"]
    assert str(priors.sds[0]) == "exponential(lam=2)"
    assert str(priors.intercept) == "normal(mu=0, sigma=2.5)"
    with pytest.raises(ModelSpecError, match="name no parameter of this model"):
        resolve_priors("bernoulli", spec.priors, ["arm[pdt]"], ["sd(therapist)"])


@pytest.mark.parametrize("family", ["bernoulli", "gaussian"])
def test_back_transform_reproduces_the_linear_predictor(data, family):
    """Random internal parameters mapped to the data scale give the same predictions from raw data
    (intercept and slope correlated: (1 + age | therapist))."""
    from homeworkflow.models.backend.build import group_effect_values, linear_predictor, to_data_scale
    from homeworkflow.models.backend.lkj import cholesky_rows

    outcome = "y" if family == "bernoulli" else "score"
    d = design(data, f"{outcome} ~ age + I(age^2) + arm + age:female + (1 + age | therapist)", family)
    rng = np.random.default_rng(0)
    p, k = len(d.terms), len(d.group_effects)
    internal = xr.Dataset(
        {
            "Intercept_std": (("chain", "draw"), rng.normal(size=(1, 1))),
            "b_std": (("chain", "draw", "term"), rng.normal(size=(1, 1, p))),
            "sd_std": (("chain", "draw", "sd_term"), rng.random((1, 1, k)) + 0.2),
            "sigma_std": (("chain", "draw"), rng.random((1, 1)) + 0.2),
            **{f"z_{j}": (("chain", "draw", "therapist"), rng.normal(size=(1, 1, 8))) for j in range(k)},
            "cor_chol_0": (("chain", "draw", "cor_chol_0_dim_0"), rng.uniform(-0.9, 0.9, (1, 1, 1))),
        },
        coords={"term": d.terms, "sd_term": [e.label for e in d.group_effects]},
    )
    draw = internal.isel(chain=0, draw=0)
    eta_internal = d.y_center + d.y_scale * linear_predictor(
        d,
        float(draw["Intercept_std"]),
        draw["b_std"].to_numpy(),
        group_effect_values(
            d,
            draw["sd_std"].to_numpy(),
            [draw[f"z_{j}"].to_numpy() for j in range(k)],
            [cholesky_rows(list(draw["cor_chol_0"].to_numpy()), 2)],
        ),
    )
    post = to_data_scale(internal, d, family, keep_group_effects=True).isel(chain=0, draw=0)
    raw_X = d.X * d.scale + d.center
    eta_data = float(post["Intercept"]) + raw_X @ post["b"].to_numpy()
    age = data["age"].to_numpy()
    eta_data = eta_data + post["r_therapist"].to_numpy()[d.group_effects[0].index]
    eta_data = eta_data + post["r_therapist[age]"].to_numpy()[d.group_effects[1].index] * age
    np.testing.assert_allclose(eta_data, eta_internal, rtol=1e-10, atol=1e-10)
    if family == "gaussian":
        assert float(post["sigma"]) == pytest.approx(d.y_scale * float(draw["sigma_std"]))


def test_package_import_does_not_load_pytensor():
    code = "import sys, homeworkflow.models; print(sorted({'pytensor', 'pymc'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_configure_compile_cache_respects_caller_settings(tmp_path, monkeypatch):
    import pytensor  # noqa: F401  (already imported by other tests; makes the warning deterministic)

    from homeworkflow.models import configure_compile_cache

    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    with pytest.warns(RuntimeWarning, match="after pytensor was imported"):
        configure_compile_cache(tmp_path)
    assert os.environ["PYTENSOR_FLAGS"] == f"floatX=float64,base_compiledir={tmp_path / 'pytensor'}"
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path.parent / "numba")  # the kernel's, shared by the models
    monkeypatch.setenv("PYTENSOR_FLAGS", "compiledir=/elsewhere")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/elsewhere/numba")
    with pytest.warns(RuntimeWarning):
        configure_compile_cache(tmp_path / "other")
    assert os.environ["PYTENSOR_FLAGS"] == "compiledir=/elsewhere"
    assert os.environ["NUMBA_CACHE_DIR"] == "/elsewhere/numba"


@pytest.mark.parametrize(
    ("formula", "free_variables"),
    [
        ("y ~ 1 + (1 | therapist)", {"Intercept_std", "sd_std", "z_0"}),
        ("y ~ 0 + age", {"b_std"}),
        ("y ~ age + arm", {"Intercept_std", "b_std"}),
    ],
)
def test_model_builds_for_edge_formulas(data, formula, free_variables):
    from homeworkflow.models.backend.build import build_model

    d = design(data, formula)
    model = build_model(
        d, "bernoulli", resolve_priors("bernoulli", {}, d.terms, [e.label for e in d.group_effects])
    )
    assert {rv.name for rv in model.free_RVs} == free_variables
    if formula == "y ~ 0 + age":
        assert d.center.tolist() == [0.0]  # no intercept: scaled, not centred


def test_per_term_prior_keeps_coefficient_order(data):
    import pymc as pm

    from homeworkflow.models.backend.build import build_model
    from homeworkflow.models.spec.priors import make_prior

    d = design(data, "y ~ age + arm + score")
    overrides = {"arm[pdt]": make_prior("normal", mu=100.0, sigma=1e-6)}
    priors = resolve_priors("bernoulli", overrides, d.terms, [])
    model = build_model(d, "bernoulli", priors)
    draw = pm.draw(model["b_std"], random_seed=1)
    assert d.terms == ["age", "arm[control]", "arm[pdt]", "score"]
    assert draw[2] == pytest.approx(100.0) and np.all(np.abs(np.delete(draw, 2)) < 20)
