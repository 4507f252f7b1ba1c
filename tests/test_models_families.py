"""The families beyond bernoulli and gaussian (models/spec/families.py).

- the NumPy log-likelihood of every family equals PyMC's log density of the built model;
- bad outcomes fail before sampling with column, rows and reason;
- agreement with brms 2.18 on real data (tests/data/references_families.json) through the
  `models:` interface: population-level means within 0.3 brms posterior SDs, group SDs and family
  parameters within 12%, R-hat <= 1.01: cbpp (binomial), epilepsy (poisson, negbinomial) and
  inhaler (cumulative), 15-30 s each on 2 cores; sleepstudy (student, correlated `(Days | Subject)`,
  30 s) is `slow`;
- recovery from simulated data (`slow`): truths inside 90% intervals at the nominal rate, pooled
  over seeds.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from homeworkflow.models import ModelSpec, ModelSpecError, fit_model
from homeworkflow.models.posterior.summaries import term_draws
from homeworkflow.models.spec.families import FAMILIES, get_family
from homeworkflow.models.spec.formula import build_design

DATA = Path(__file__).parent / "data"
REFERENCES = json.loads((DATA / "references_families.json").read_text())
NEW_FAMILIES = ("binomial", "poisson", "negbinomial", "student", "cumulative", "beta")
FORMULAS = {
    "binomial": "succ | trials(n) ~ x + arm + (1 | g)",
    "poisson": "count ~ x + arm + (1 | g)",
    "negbinomial": "count ~ x + arm + (1 | g)",
    "student": "score ~ x + arm + (1 | g)",
    "cumulative": "rating ~ x + arm + (1 | g)",
    "beta": "share ~ x + arm + (1 | g)",
}
# the simulation's truths, on the data scale (Intercept[k] for cumulative)
TRUTH = {"x": 0.5, "arm[b]": 0.4, "sd(g)": 0.5}
FAMILY_TRUTH = {
    "binomial": {"Intercept": -0.3},
    "poisson": {"Intercept": 1.0},
    "negbinomial": {"Intercept": 1.0, "shape": 4.0},
    "student": {"Intercept": 10.0, "sigma": 2.0, "nu": 4.0},
    "cumulative": {"Intercept[1]": -1.0, "Intercept[2]": 0.5, "Intercept[3]": 2.0},
    "beta": {"Intercept": 0.0, "phi": 20.0},
}


def simulate(family: str, seed: int, n: int = 240, groups: int = 12) -> pd.DataFrame:
    """A data set of `family` with the truths above, 12 groups."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x, arm = rng.normal(size=n), rng.choice(["a", "b"], n)
    eta = TRUTH["x"] * x + TRUTH["arm[b]"] * (arm == "b") + rng.normal(0, TRUTH["sd(g)"], groups)[g]
    frame = pd.DataFrame({"x": x, "arm": arm, "g": [f"G{k}" for k in g]})
    truth = FAMILY_TRUTH[family]
    if family == "binomial":
        frame["n"] = rng.integers(1, 15, n)
        frame["succ"] = rng.binomial(frame["n"], 1 / (1 + np.exp(-(truth["Intercept"] + eta))))
    elif family == "poisson":
        frame["count"] = rng.poisson(np.exp(truth["Intercept"] + eta))
    elif family == "negbinomial":
        mu, shape = np.exp(truth["Intercept"] + eta), truth["shape"]
        frame["count"] = rng.poisson(rng.gamma(shape, mu / shape))
    elif family == "student":
        frame["score"] = truth["Intercept"] + eta + truth["sigma"] * rng.standard_t(truth["nu"], n)
    elif family == "cumulative":
        cuts = np.array([truth[f"Intercept[{k}]"] for k in (1, 2, 3)])
        frame["rating"] = 1 + (rng.logistic(size=n)[:, None] + eta[:, None] > cuts).sum(axis=1)
    else:
        mu, phi = 1 / (1 + np.exp(-(truth["Intercept"] + eta))), truth["phi"]
        frame["share"] = rng.beta(mu * phi, (1 - mu) * phi)
    return frame


def test_registry_and_defaults():
    assert set(NEW_FAMILIES) | {"bernoulli", "gaussian"} == set(FAMILIES)
    assert {f: get_family(f).link for f in FAMILIES} == {
        "bernoulli": "logit", "gaussian": "identity", "binomial": "logit", "poisson": "log",
        "negbinomial": "log", "student": "identity", "cumulative": "logit", "beta": "logit",
    }
    # brms's defaults for the family parameters, student_t(3, 0, 2.5) for intercepts and thresholds
    priors = {f: {k: str(v) for k, v in get_family(f).default_priors().items()} for f in NEW_FAMILIES}
    assert priors["negbinomial"]["shape"] == "gamma(alpha=0.01, beta=0.01)"
    assert priors["beta"]["phi"] == "gamma(alpha=0.01, beta=0.01)"
    assert priors["student"]["nu"] == "gamma(alpha=2, beta=0.1)"
    assert priors["cumulative"]["Intercept"] == "student_t(mu=0, nu=3, sigma=2.5)"
    assert priors["poisson"]["sd"] == "halfstudent_t(nu=3, sigma=2.5)"


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_numpy_log_likelihood_matches_pymc(family):
    """log_likelihood (NumPy, used for LOO) equals PyMC's pointwise log density at prior draws."""
    import pymc as pm

    from homeworkflow.models.backend.build import build_model, log_likelihood
    from homeworkflow.models.spec.priors import resolve_priors

    from homeworkflow.models.spec.priors import make_prior

    design = build_design(simulate(family, 0, n=40, groups=5), FORMULAS[family], family, {})
    # gamma(0.01, 0.01) draws of shape or phi underflow to 0: a narrower prior for this check
    moderate = {p.name: make_prior("gamma", alpha=2.0, beta=0.2) for p in get_family(family).parameters if p.name in ("shape", "phi")}
    priors = resolve_priors(family, moderate, design.terms, [e.label for e in design.group_effects])
    model = build_model(design, family, priors)
    free = [v.name for v in model.free_RVs + model.deterministics]
    prior = pm.sample_prior_predictive(draws=12, model=model, var_names=free, random_seed=1).prior
    if "nu" in prior:  # prior draws of nu below 1 lie outside the support
        assert float(prior["nu"].min()) >= 1
    model.rvs_to_initial_values = dict.fromkeys(model.rvs_to_initial_values)  # cumulative's start, not needed here
    expected = pm.compute_log_likelihood(
        __import__("arviz").InferenceData(posterior=prior), model=model, progressbar=False
    ).log_likelihood[design.outcome]
    got = log_likelihood(prior, design, family, block=5)[design.outcome]
    assert np.isfinite(got.values).all()
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6, atol=1e-8)


def test_nu_has_only_its_lower_bound():
    """nu > 1 through one interval transform that replaces Gamma's log transform (PyMC's `transform=`
    would chain onto it and cut off the prior's lower tail: brms's nu then came out 13% lower)."""
    from homeworkflow.models.backend.build import build_model
    from homeworkflow.models.spec.priors import resolve_priors

    design = build_design(simulate("student", 0, n=40, groups=5), FORMULAS["student"], "student", {})
    model = build_model(design, "student", resolve_priors("student", {}, design.terms, ["sd(g)"]))
    transform = model.rvs_to_transforms[model["nu"]]
    assert type(transform).__name__ == "Interval"  # not a chain after the log transform
    point = {"nu_interval__": np.log(1.5)}  # nu = 2.5
    logp = model.compile_logp(vars=[model["nu"]], jacobian=True)({**model.initial_point(), **point})
    from scipy import stats

    assert logp == pytest.approx(stats.gamma(2, scale=10).logpdf(2.5) + np.log(1.5))


def test_cumulative_logp_is_pymc_ordered_logistic():
    """The cumulative likelihood's own log density equals pm.OrderedLogistic's (brms's convention)."""
    import pymc as pm

    eta, cuts = np.array([-2.0, 0.3, 1.0, 4.0, 0.0]), np.array([-1.0, 0.5, 2.0])
    y = np.array([0, 1, 2, 3, 3])
    expected = pm.logp(pm.OrderedLogistic.dist(eta, cuts), y).eval()
    got = get_family("cumulative").log_likelihood(y, eta[np.newaxis], {"Intercept": cuts[np.newaxis]}, None)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_ppc_and_simulate_shapes():
    """simulate() draws outcomes the family's check accepts; mean() is E[y] (Monte Carlo check)."""
    rng = np.random.default_rng(2)
    eta = np.array([-1.0, 0.0, 1.5])
    params = {"shape": 3.0, "phi": 10.0, "Intercept": np.array([-1.0, 0.5, 2.0])}
    for family in ("poisson", "negbinomial", "beta", "cumulative"):
        f = get_family(family)
        draws = np.array([f.simulate(eta, params, rng) for _ in range(20000)])
        values = draws + (1 if family == "cumulative" else 0)  # cumulative: categories 1..K
        np.testing.assert_allclose(values.mean(axis=0), f.mean(eta, params), rtol=0.03, err_msg=family)
    binomial = get_family("binomial")
    trials = np.array([5, 10, 20])
    draws = np.array([binomial.simulate(eta, {}, rng, trials) for _ in range(20000)])
    np.testing.assert_allclose(draws.mean(axis=0), binomial.mean(eta, {}, trials), rtol=0.03)


def test_effect_tables_and_variance_partition():
    """Odds ratios for logit families, rate ratios for log families, a note for the others; icc only
    where a residual variance is defined, median ratios per link."""
    import xarray as xr

    from homeworkflow.models.posterior.summaries import effect_table, odds_ratio_table, variance_partition_table

    rng = np.random.default_rng(0)
    dims = ("chain", "draw")
    posterior = xr.Dataset(
        {
            "b": (dims + ("term",), rng.normal([0.5, -0.2], 0.1, (2, 50, 2))),
            "sd": (dims + ("sd_term",), np.abs(rng.normal(0.6, 0.05, (2, 50, 1)))),
            "sigma": (dims, np.abs(rng.normal(2.0, 0.1, (2, 50)))),
        },
        coords={"term": ["x", "arm[b]"], "sd_term": ["sd(g)"]},
    )
    assert effect_table(posterior, "bernoulli").equals(odds_ratio_table(posterior))
    assert list(effect_table(posterior, "cumulative").columns) == ["term", "or_mean", "or_q2.5", "or_q97.5", "prob_or_gt_1"]
    rates = effect_table(posterior, "poisson")
    assert list(rates.columns) == ["term", "rr_mean", "rr_q2.5", "rr_q97.5", "prob_rr_gt_1"]
    assert rates.loc[0, "rr_mean"] == pytest.approx(float(np.exp(posterior["b"].sel(term="x")).mean()))
    assert rates.loc[0, "prob_rr_gt_1"] == 1.0
    note = effect_table(posterior, "student")
    assert list(note.columns) == ["term", "note"] and "no ratio scale" in note.loc[0, "note"]

    design = build_design(simulate("poisson", 0), FORMULAS["poisson"], "poisson", {})
    measures = {
        family: list(variance_partition_table(posterior, design, family)["measure"])
        for family in ("binomial", "cumulative", "poisson", "negbinomial", "student", "beta", "gaussian")
    }
    assert measures == {
        "binomial": ["icc", "median_odds_ratio"],
        "cumulative": ["icc", "median_odds_ratio"],
        "poisson": ["median_rate_ratio"],
        "negbinomial": ["median_rate_ratio"],
        "student": [],
        "beta": [],
        "gaussian": ["icc"],
    }


# ------------------------------------------------------------------------------ bad input


def _design(frame: pd.DataFrame, formula: str, family: str, **spec):
    spec = ModelSpec.from_config("m", {"formula": formula, "family": family, **spec})
    return build_design(frame, spec.formula, spec.family, spec.reference_levels, spec.outcome_levels)


@pytest.mark.parametrize(
    ("family", "column", "values", "message"),
    [
        ("poisson", "count", {2: -1, 5: 2.5}, "must hold non-negative integer counts; 2 value(s) do not, e.g. ['-1.0', '2.5'], data rows 3, 6 (2 rows in total)"),
        ("negbinomial", "count", {0: 0.5}, "data row 1 (1 row in total)"),
        ("beta", "share", {1: 0.0, 3: 1.0, 4: 1.2}, "3 value(s) do not (1 equal to 0, 1 equal to 1, 1 outside [0, 1]), data rows 2, 4, 5"),
        ("binomial", "succ", {3: 99}, "binomial outcome 'succ' exceeds its trials 'n' in 1 row(s), data row 4"),
        ("binomial", "n", {6: 0, 7: 2.5}, "binomial trials 'n' must be positive integers; 2 value(s) are not"),
        ("cumulative", "rating", {0: 1.5}, "cumulative outcome 'rating' must hold integer categories"),
    ],
)
def test_bad_outcomes(family, column, values, message):
    frame = simulate(family, 0)
    frame[column] = frame[column].astype(float)
    for row, value in values.items():
        frame.loc[row, column] = value
    with pytest.raises(ModelSpecError, match=None) as error:
        _design(frame, FORMULAS[family], family)
    assert message in str(error.value)


def test_beta_says_what_to_do():
    frame = simulate("beta", 0)
    frame.loc[0, "share"] = 1.0
    with pytest.raises(ModelSpecError, match="Smithson & Verkuilen.*zero_one_inflated_beta"):
        _design(frame, FORMULAS["beta"], "beta")


def test_ordinal_checks():
    frame = simulate("cumulative", 0)
    two = frame.assign(rating=np.where(frame["rating"] > 2, 2, 1))
    with pytest.raises(ModelSpecError, match=r"has 2 categories \['1', '2'\]; an ordinal model needs at least 3"):
        _design(two, FORMULAS["cumulative"], "cumulative")
    words = frame.assign(rating=frame["rating"].map({1: "never", 2: "rarely", 3: "often", 4: "always"}))
    with pytest.raises(ModelSpecError, match="unordered values .* give their order in the model's 'outcome_levels'"):
        _design(words, FORMULAS["cumulative"], "cumulative")
    order = ["never", "rarely", "often", "always"]
    design = _design(words, FORMULAS["cumulative"], "cumulative", outcome_levels=order)
    assert design.outcome_levels == order
    np.testing.assert_array_equal(design.y, frame["rating"].to_numpy() - 1)
    with pytest.raises(ModelSpecError, match=r"categor.*\['sometimes'\] of .* never occur in the data"):
        _design(words, FORMULAS["cumulative"], "cumulative", outcome_levels=order[:2] + ["sometimes"] + order[2:])
    with pytest.raises(ModelSpecError, match=r"1 value\(s\) not in outcome_levels"):
        _design(words.assign(rating=words["rating"].replace({"never": "nope"}).where(words.index > 0, "nope")
                             .where(words.index == 0, words["rating"])),
                FORMULAS["cumulative"], "cumulative", outcome_levels=order)
    ordered = words.assign(rating=pd.Categorical(words["rating"], categories=order, ordered=True))
    assert _design(ordered, FORMULAS["cumulative"], "cumulative").outcome_levels == order


def test_spec_checks():
    with pytest.raises(ModelSpecError, match=r"'\| trials\(n\)' in the formula belongs to family binomial, not poisson"):
        ModelSpec.from_config("m", {"formula": "succ | trials(n) ~ x", "family": "poisson"})
    with pytest.raises(ModelSpecError, match="family binomial needs its trials"):
        ModelSpec.from_config("m", {"formula": "succ ~ x", "family": "binomial"})
    with pytest.raises(ModelSpecError, match="outcome_levels orders an ordinal outcome"):
        ModelSpec.from_config("m", {"formula": "y ~ x", "family": "bernoulli", "outcome_levels": [1, 2, 3]})
    with pytest.raises(ModelSpecError, match="outcome_levels repeats a category"):
        ModelSpec.from_config("m", {"formula": "y ~ x", "family": "cumulative", "outcome_levels": [1, 2, 2]})
    with pytest.raises(ModelSpecError, match=r"priors given for \['shape'\]"):
        from homeworkflow.models.spec.priors import resolve_priors

        spec = ModelSpec.from_config("m", {"formula": "y ~ x", "family": "poisson", "priors": {"shape": {"dist": "gamma", "alpha": 1, "beta": 1}}})
        resolve_priors(spec.family, spec.priors, ["x"], [])


# ------------------------------------------------------------------------------ brms

# brms's term name -> ours, per fit; sd(<group>) for the group intercept SDs
BRMS = {
    "cbpp": (
        {"formula": "incidence | trials(size) ~ C(period) + (1 | herd)", "family": "binomial"},
        {"Intercept": "Intercept", "period2": "C(period)[2]", "period3": "C(period)[3]", "period4": "C(period)[4]"},
    ),
    "epilepsy_poisson": (
        {"formula": "count ~ zAge + zBase * Trt + (1 | patient)", "family": "poisson"},
        {"Intercept": "Intercept", "zAge": "zAge", "zBase": "zBase", "Trt1": "Trt", "zBase:Trt1": "zBase:Trt"},
    ),
    "epilepsy_negbinomial": (
        {"formula": "count ~ zAge + zBase * Trt + (1 | patient)", "family": "negbinomial"},
        {"Intercept": "Intercept", "zAge": "zAge", "zBase": "zBase", "Trt1": "Trt", "zBase:Trt1": "zBase:Trt"},
    ),
    "inhaler": (
        # 286 subjects of 2 rows each: the diagonal mass matrix mixes better here (R-hat 1.003 against
        # 1.011 with low_rank) in 30 s instead of 72 s
        {"formula": "rating ~ treat + period + carry + (1 | subject)", "family": "cumulative", "mass_matrix": "diagonal"},
        {f"Intercept[{k}]": f"Intercept[{k}]" for k in (1, 2, 3)} | {t: t for t in ("treat", "period", "carry")},
    ),
    "sleepstudy_student": (
        {"formula": "Reaction ~ Days + (Days | Subject)", "family": "student"},
        {"Intercept": "Intercept", "Days": "Days", "sd(Days)": "sd(Subject)[Days]",
         "cor(Intercept,Days)": "cor(Subject)[Intercept,Days]"},
    ),
}


def agreement(name: str) -> tuple[float, float, list[str]]:
    """Fit `name` as a user would (a `models:` mapping); return the worst population-level distance
    from brms in brms posterior SDs, the worst relative difference of an SD or family parameter,
    and the list of failures."""
    config, terms = BRMS[name]
    reference = REFERENCES[name]
    result = fit_model(pd.read_csv(DATA / reference["file"]), ModelSpec.from_config(name, dict(config)), threads=2)
    summary = result.summary.set_index("term")
    failures, worst, worst_relative = [], 0.0, 0.0
    for brms_name, estimate in reference["fixed"].items():
        distance = abs(summary.loc[terms[brms_name], "mean"] - estimate["Estimate"]) / estimate["Est.Error"]
        worst = max(worst, distance)
        if distance > 0.3:
            failures.append(f"{brms_name}: {distance:.2f} brms SDs")
    scales = dict(reference["spec"] or {})
    for group, table in reference["random"].items():
        for brms_name, estimate in table.items():
            term = f"sd({group})" if brms_name == "sd(Intercept)" else terms[brms_name]
            if brms_name.startswith("cor("):  # correlations: within 0.5 brms posterior SDs
                distance = abs(summary.loc[term, "mean"] - estimate["Estimate"]) / estimate["Est.Error"]
                if distance > 0.5:
                    failures.append(f"{term}: {distance:.2f} brms SDs")
            else:
                scales[term] = estimate
    for term, estimate in scales.items():
        relative = summary.loc[term, "mean"] / estimate["Estimate"] - 1
        worst_relative = max(worst_relative, abs(relative))
        if abs(relative) > 0.12:
            failures.append(f"{term}: {relative:+.1%}")
    if summary["r_hat"].max() > 1.01:
        failures.append(f"R-hat {summary['r_hat'].max():.3f}")
    return worst, worst_relative, failures


@pytest.mark.parametrize(
    "name",
    [
        "cbpp",
        "epilepsy_poisson",
        "epilepsy_negbinomial",
        "inhaler",
        pytest.param("sleepstudy_student", marks=pytest.mark.slow),
    ],
)
def test_matches_brms(name):
    *_, failures = agreement(name)
    assert failures == [], failures


if __name__ == "__main__":  # measure: python tests/test_models_families.py NAME ...
    import sys
    import time

    for name in sys.argv[1:]:
        start = time.perf_counter()
        worst, worst_relative, failures = agreement(name)
        print(
            f"{name}: population-level {worst:.3f} brms SDs, SDs and family parameters {worst_relative:.1%}, "
            f"{time.perf_counter() - start:.0f} s, failures {failures}"
        )


# ------------------------------------------------------------------------------ recovery

SEEDS = (11, 12, 13)


@pytest.mark.slow
@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_recovery(family):
    """Every truth inside its 90% interval in at least 75% of (seeds x parameters): the expected
    rate is 90%; with 3 seeds x 5-6 parameters, 75% or fewer has probability about 2%."""
    inside = []
    for seed in SEEDS:
        spec = ModelSpec.from_config(family, {"formula": FORMULAS[family], "family": family, "chains": 2, "seed": seed})
        result = fit_model(simulate(family, seed), spec, threads=2)
        draws = term_draws(result.idata.posterior)
        for term, truth in {**TRUTH, **FAMILY_TRUTH[family]}.items():
            low, high = np.quantile(draws[term].values, [0.05, 0.95])
            inside.append(low <= truth <= high)
    assert np.mean(inside) >= 0.75, f"{np.mean(inside):.0%} of truths inside the 90% intervals"
