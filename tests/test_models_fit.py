"""Fitting small models: output files, determinism, the gate, samplers, back-transform, recovery."""

import dataclasses
import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

from homeworkflow.models import ConvergenceError, ModelSpec, fit_model, write_model_outputs

FAST = {"chains": 2, "draws": 300, "tune": 300, "seed": 11, "gate": {"extend": 0}}  # one round of draws: shapes known


def simulate_logistic(seed=0, n=300, groups=15):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(5, 2, n)
    arm = rng.choice(["a", "b", "c"], n)
    u = rng.normal(0, 0.7, groups)
    eta = -0.5 + 0.4 * (x - 5) + 0.8 * (arm == "b") + (u - u.mean())[g]
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), "Y", "N")
    return pd.DataFrame({"y": y, "x": x, "arm": arm, "therapist_id": g})


@pytest.fixture(scope="module")
def logistic_spec():
    return ModelSpec.from_config(
        "tiny", {"formula": "y ~ x + arm + (1 | therapist_id)", "family": "bernoulli", **FAST}
    )


@pytest.fixture(scope="module")
def logistic_fit(logistic_spec):
    return fit_model(simulate_logistic(), logistic_spec, threads=2)


def test_output_files_and_columns(logistic_fit, tmp_path):
    write_model_outputs(logistic_fit, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "diagnostics.json",
        "posterior.nc",
        "ppc.csv",
        "summary.csv",
        "variance_partition.csv",
    ]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary.columns) == ["term", "mean", "sd", "q2.5", "q97.5", "ess_bulk", "ess_tail", "r_hat"]
    assert list(summary.term) == ["Intercept", "x", "arm[b]", "arm[c]", "sd(therapist_id)"]
    odds = logistic_fit.odds_ratios
    assert list(odds.columns) == ["term", "or_mean", "or_q2.5", "or_q97.5", "prob_or_gt_1"]
    assert list(odds.term) == ["x", "arm[b]", "arm[c]"]
    assert (odds["or_q2.5"] < odds.or_mean).all() and (odds.or_mean < odds["or_q97.5"]).all()
    vp = pd.read_csv(tmp_path / "variance_partition.csv")
    assert list(vp.columns) == ["group", "measure", "mean", "q2.5", "q97.5"]
    assert list(vp.measure) == ["icc", "median_odds_ratio"] and set(vp.group) == {"therapist_id"}
    assert 0 < vp["mean"][0] < 1 and vp["mean"][1] > 1
    ppc = pd.read_csv(tmp_path / "ppc.csv", keep_default_na=False)
    assert list(ppc.columns) == [
        "variable",
        "level",
        "observed_mean",
        "replicated_mean",
        "replicated_q2.5",
        "replicated_q97.5",
    ]
    assert list(zip(ppc.variable, ppc.level)) == [
        ("overall", "all"),
        ("arm", "a"),
        ("arm", "b"),
        ("arm", "c"),
    ]
    assert (
        (ppc["replicated_q2.5"] <= ppc.observed_mean) & (ppc.observed_mean <= ppc["replicated_q97.5"])
    ).all()


def test_diagnostics_json(logistic_fit, tmp_path):
    write_model_outputs(logistic_fit, tmp_path)
    diag = json.loads((tmp_path / "diagnostics.json").read_text())
    for key in ("divergences", "max_rhat", "min_ess_bulk", "min_ess_tail", "gate_passed", "n_gradient_evals"):
        assert key in diag
    assert len(diag["bfmi"]) == 2
    assert diag["gate"] == {"max_rhat": 1.01, "min_ess": 400, "max_divergences": 0, "on_fail": "warn", "extend": 0}
    assert diag["extensions"] == [] and diag["chains"] == 2
    assert diag["sampler"] == "nutpie" and diag["n_levels"] == {"therapist_id": 15}
    assert diag["total_s"] >= diag["compile_s"] + diag["sampling_s"] > 0
    posterior = logistic_fit.idata.posterior
    for key, stat in (
        ("max_rhat", az.rhat(posterior)),
        ("min_ess_bulk", az.ess(posterior, method="bulk")),
        ("min_ess_tail", az.ess(posterior, method="tail")),
    ):
        values = np.concatenate([v.to_numpy().ravel() for v in stat.data_vars.values()])
        expected = values.max() if key == "max_rhat" else values.min()
        assert diag[key] == pytest.approx(expected, rel=1e-9), key


def test_posterior_netcdf_has_log_likelihood_and_named_dims(logistic_fit, tmp_path):
    write_model_outputs(logistic_fit, tmp_path)
    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert {"posterior", "log_likelihood", "sample_stats", "observed_data"} <= set(idata.groups())
    assert idata.log_likelihood["y"].shape == (2, 300, 300)
    assert set(idata.posterior.data_vars) == {"Intercept", "b", "sd", "r_therapist_id"}
    assert idata.posterior["r_therapist_id"].dims == ("chain", "draw", "therapist_id")
    assert list(idata.posterior["b"].term.values) == ["x", "arm[b]", "arm[c]"]
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporaries behind


def test_estimates_are_on_the_data_scale(logistic_fit):
    summary = logistic_fit.summary.set_index("term")
    truth = {"Intercept": -0.5 - 0.4 * 5, "x": 0.4, "arm[b]": 0.8, "arm[c]": 0.0}
    for term, value in truth.items():
        assert summary.loc[term, "q2.5"] < value < summary.loc[term, "q97.5"], term


@pytest.fixture(scope="module")
def refit_with_failing_gate(logistic_spec):
    """The same model and seed again, with a gate no fit can pass and on_fail="error"."""
    spec = dataclasses.replace(
        logistic_spec, gate=dataclasses.replace(logistic_spec.gate, min_ess=1e9, on_fail="error", extend=0)
    )
    with pytest.raises(ConvergenceError, match="FAILED the convergence gate: .*min bulk ESS") as err:
        fit_model(simulate_logistic(), spec, threads=1)
    return err.value


def test_same_seed_gives_identical_draws(logistic_fit, refit_with_failing_gate):
    first, second = logistic_fit.idata.posterior, refit_with_failing_gate.result.idata.posterior
    for name in first.data_vars:
        np.testing.assert_array_equal(first[name].to_numpy(), second[name].to_numpy())


def test_failed_gate_raises_with_result_attached(refit_with_failing_gate):
    diag = refit_with_failing_gate.result.diagnostics
    assert diag["gate_passed"] is False and diag["gate"]["on_fail"] == "error"


def test_missed_ess_samples_more_chains_and_pools_them(logistic_spec, logistic_fit):
    """A fit whose ESS misses the gate samples `chains` more chains (the next seed) and pools them:
    its first chains are the single fit's draws, and the pooled ESS passes."""
    first = logistic_fit.diagnostics
    gate = dataclasses.replace(logistic_spec.gate, min_ess=first["min_ess_bulk"] + 1, max_rhat=1.1, extend=2)
    result = fit_model(simulate_logistic(), dataclasses.replace(logistic_spec, gate=gate), threads=1)
    diag, posterior = result.diagnostics, result.idata.posterior
    assert len(diag["extensions"]) == 1 and "min bulk ESS" in diag["extensions"][0]
    assert diag["gate_passed"] and diag["chains"] == 4 == posterior.sizes["chain"]
    assert list(posterior["chain"].values) == [0, 1, 2, 3]
    assert result.idata.sample_stats.sizes["chain"] == 4 and result.idata.log_likelihood.sizes["chain"] == 4
    for name in posterior.data_vars:
        np.testing.assert_array_equal(posterior[name].sel(chain=[0, 1]), logistic_fit.idata.posterior[name])


def test_divergences_are_not_mended_by_more_chains():
    from homeworkflow.models.fit import _extendable
    from homeworkflow.models.spec.model import Gate

    gate = Gate()
    assert _extendable({"gate_passed": False, "divergences": 0}, gate)
    assert not _extendable({"gate_passed": False, "divergences": 3}, gate)
    assert not _extendable({"gate_passed": True, "divergences": 0}, gate)


def test_failed_gate_warns_by_default(logistic_fit):
    from homeworkflow.models.fit import _apply_gate

    failed = dataclasses.replace(
        logistic_fit,
        diagnostics={**logistic_fit.diagnostics, "gate_passed": False, "gate_failures": ["test"]},
    )
    with pytest.warns(RuntimeWarning, match="FAILED the convergence gate: test"):
        _apply_gate(failed)


def test_gaussian_estimates_match_mixedlm_on_the_data_scale():
    """Weak priors: posterior means close to statsmodels' REML fit, on the data's own scale."""
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(5)
    n, schools = 400, 12
    school = rng.integers(0, schools, n)
    hours = rng.normal(50, 10, n)
    girl = rng.random(n) < 0.5
    y = 30 + 0.5 * hours - 2.0 * girl + rng.normal(0, 3, schools)[school] + rng.normal(0, 4, n)
    data = pd.DataFrame({"score": y, "hours": hours, "girl": girl, "school": school})
    spec = ModelSpec.from_config(
        "g",
        {
            "formula": "score ~ hours + girl + (1 | school)",
            "family": "gaussian",
            "save_group_effects": False,
            "save_log_likelihood": False,
            **FAST,
        },
    )
    result = fit_model(data, spec)
    summary = result.summary.set_index("term")
    assert list(summary.index) == ["Intercept", "hours", "girl[True]", "sd(school)", "sigma"]
    reml = smf.mixedlm("score ~ hours + girl", data.assign(girl=data.girl.astype(int)), groups="school").fit()
    expected = {"Intercept": reml.fe_params["Intercept"], "hours": reml.fe_params["hours"]}
    expected |= {"girl[True]": reml.fe_params["girl"], "sigma": np.sqrt(reml.scale)}
    for term, value in expected.items():
        assert abs(summary.loc[term, "mean"] - value) < 0.5 * summary.loc[term, "sd"], term
    assert result.odds_ratios is None
    assert list(result.variance_partition.measure) == ["icc"]
    assert not [v for v in result.idata.posterior.data_vars if v.startswith("r_")]
    assert "log_likelihood" not in result.idata.groups()


@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_other_samplers_run(sampler):
    spec = ModelSpec.from_config(
        sampler,
        {
            "formula": "y ~ x + arm + (1 | therapist_id)",
            "family": "bernoulli",
            "sampler": sampler,
            "chains": 2,
            "draws": 100,
            "tune": 100,
            "gate": {"min_ess": 10, "max_rhat": 1.2, "max_divergences": 10},
        },
    )
    result = fit_model(simulate_logistic(), spec, threads=1)
    assert result.diagnostics["sampler"] == sampler
    assert list(result.summary.term) == ["Intercept", "x", "arm[b]", "arm[c]", "sd(therapist_id)"]
    assert result.idata.log_likelihood["y"].shape == (2, 100, 300)


def simulate_three_level(seed=2024, therapists=40, clients=6, sessions=5):
    """Sessions in clients in therapists, with known coefficients and group SDs."""
    rng = np.random.default_rng(seed)
    truth = {
        "Intercept": -0.4,
        "session": 0.25,
        "severity": -0.5,
        "homework[exercise]": 0.7,
        "homework[reading]": -0.4,
        "sd(therapist)": 0.6,
        "sd(therapist:client)": 0.8,
    }
    t = np.repeat(np.arange(therapists), clients * sessions)
    c = np.repeat(np.arange(therapists * clients), sessions) % clients  # client ids repeat across therapists
    session = np.tile(np.arange(1, sessions + 1), therapists * clients)
    severity = np.repeat(rng.normal(0, 1, therapists * clients), sessions)
    homework = rng.choice(["diary", "exercise", "reading"], len(t))
    client_effect = rng.normal(0, truth["sd(therapist:client)"], therapists * clients)
    eta = (
        truth["Intercept"]
        + truth["session"] * session
        + truth["severity"] * severity
        + truth["homework[exercise]"] * (homework == "exercise")
        + truth["homework[reading]"] * (homework == "reading")
        + rng.normal(0, truth["sd(therapist)"], therapists)[t]
        + client_effect[np.repeat(np.arange(therapists * clients), sessions)]
    )
    y = (rng.random(len(t)) < 1 / (1 + np.exp(-eta))).astype(int)
    data = pd.DataFrame(
        {
            "done": y,
            "session": session,
            "severity": severity,
            "homework": homework,
            "therapist": t,
            "client": c,
        }
    )
    return data, truth


def test_three_level_logistic_recovers_true_parameters():
    data, truth = simulate_three_level()
    spec = ModelSpec.from_config(
        "recovery",
        {
            "formula": "done ~ session + severity + homework + (1 | therapist/client)",
            "family": "bernoulli",
            "chains": 2,
            "draws": 500,
            "tune": 500,
            "seed": 3,
        },
    )
    result = fit_model(data, spec, threads=2)
    posterior = result.idata.posterior
    intervals = {}
    for term, value in truth.items():
        if term == "Intercept":
            draws = posterior["Intercept"]
        elif term.startswith("sd("):
            draws = posterior["sd"].sel(sd_term=term)
        else:
            draws = posterior["b"].sel(term=term)
        intervals[term] = tuple(np.quantile(draws, [0.05, 0.95]))
    missed = {t: (truth[t], iv) for t, iv in intervals.items() if not iv[0] < truth[t] < iv[1]}
    assert not missed, f"true values outside their 90% intervals: {missed}"


@pytest.mark.parametrize(
    ("family", "formula"),
    [
        ("bernoulli", "y ~ x + arm + (1 | therapist_id)"),
        ("gaussian", "x ~ arm + (1 + x2 | therapist_id) + (1 | therapist_id:client)"),  # correlated
        ("gaussian", "x ~ 0"),
    ],
)
def test_log_likelihood_equals_pymcs(family, formula):
    """The NumPy log-likelihood written to posterior.nc is PyMC's, draw by draw and observation by observation."""
    import pymc as pm

    from homeworkflow.models.backend.build import build_model, log_likelihood
    from homeworkflow.models.spec.formula import build_design
    from homeworkflow.models.spec.priors import resolve_priors

    rng = np.random.default_rng(8)
    data = simulate_logistic().assign(x2=rng.normal(size=300), client=rng.integers(0, 3, 300))
    design = build_design(data, formula, family, {})
    cor_groups = [block.factor for block in design.correlation_blocks]
    priors = resolve_priors(family, {}, design.terms, [e.label for e in design.group_effects], cor_groups)
    model = build_model(design, family, priors)
    free = [rv.name for rv in model.free_RVs]
    prior = pm.sample_prior_predictive(draws=30, model=model, var_names=free, random_seed=1).prior
    expected = pm.compute_log_likelihood(
        az.InferenceData(posterior=prior), model=model, extend_inferencedata=False, progressbar=False
    )[design.outcome]
    got = log_likelihood(prior, design, family, block=7)[design.outcome]
    assert got.dims == expected.dims
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-10, atol=1e-12)
