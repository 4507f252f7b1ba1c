"""Predictions on new rows (`predictions:`) and the prior predictive check (`prior_predictive:`)."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from homeworkflow.models import ModelSpec, ModelSpecError, fit_model
from homeworkflow.models.fit import prior_predictive_check
from homeworkflow.models.posterior.predictions import Grid, expected_outcome, grid_rows, summarise
from homeworkflow.presentation.figures.models import conditional_effects_figure, predictive_check_figure

SAMPLING = {"chains": 2, "draws": 300, "tune": 300, "gate": {"on_fail": "warn"}}


def simulated(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(12), 10)
    x = rng.normal(size=group.size)
    arm = rng.choice(["control", "treated"], group.size)
    eta = 0.5 + 1.5 * x + 0.7 * (arm == "treated") + rng.normal(0, 0.6, 12)[group]
    return pd.DataFrame(
        {
            "y": eta + rng.normal(0, 1, group.size),
            "event": (rng.random(group.size) < expit(eta - 0.5)).astype(int),
            "x": x,
            "arm": arm,
            "g": [f"g{i:02d}" for i in group],
        }
    )


@pytest.fixture(scope="module")
def data():
    return simulated()


GAUSSIAN = {"formula": "y ~ x + arm + (1 | g)", "family": "gaussian", **SAMPLING}


@pytest.fixture(scope="module")
def gaussian_fit(data):
    return fit_model(data, ModelSpec.from_config("m", GAUSSIAN))


@pytest.fixture(scope="module")
def gaussian(gaussian_fit):
    return gaussian_fit.spec, gaussian_fit.idata.posterior


def predict(posterior, data, spec, cfg, rows=None):
    grid = Grid.from_config(spec.name, "grid", cfg, rows)
    new_rows = grid_rows(grid, data, spec.formula, spec.reference_levels)
    draws = expected_outcome(posterior, data, new_rows, spec, grid.groups, seed=1)
    return summarise(grid, new_rows, draws), draws


def flat(posterior, name):
    return posterior[name].stack(sample=("chain", "draw")).to_numpy()


def test_population_predictions_are_the_linear_predictor_on_the_data_scale(gaussian, data):
    spec, posterior = gaussian
    table, draws = predict(posterior, data, spec, {"values": {"x": [-1.0, 0.0, 2.0], "arm": ["control", "treated"]}})
    assert list(table.columns) == ["grid", "groups", "x", "arm", "estimate", "lower_95", "upper_95"]
    assert len(table) == 6
    b = posterior["b"].stack(sample=("chain", "draw"))
    for i, row in table.iterrows():
        expected = (
            flat(posterior, "Intercept")
            + row["x"] * b.sel(term="x").to_numpy()
            + (row["arm"] == "treated") * b.sel(term="arm[treated]").to_numpy()
        )
        np.testing.assert_allclose(draws[i], expected, rtol=1e-10)
        assert row["lower_95"] < row["estimate"] < row["upper_95"]


def test_unnamed_predictors_sit_at_their_mean_or_reference_level(gaussian, data):
    spec, posterior = gaussian
    _, draws = predict(posterior, data, spec, {"values": {"arm": ["treated"]}})
    b = posterior["b"].stack(sample=("chain", "draw"))
    expected = flat(posterior, "Intercept") + data["x"].mean() * b.sel(term="x").to_numpy() + b.sel(term="arm[treated]").to_numpy()
    np.testing.assert_allclose(draws[0], expected, rtol=1e-10)


def test_fitted_and_new_group_effects(gaussian, data):
    spec, posterior = gaussian
    none, _ = predict(posterior, data, spec, {"values": {"x": [0.0]}})
    _, fitted = predict(posterior, data, spec, {"values": {"x": [0.0], "g": ["g00", "g07"]}, "groups": "fitted"})
    _, population = predict(posterior, data, spec, {"values": {"x": [0.0], "g": ["g00", "g07"]}})
    for i, level in enumerate(["g00", "g07"]):
        effect = posterior["r_g"].sel(g=level).stack(sample=("chain", "draw")).to_numpy()
        np.testing.assert_allclose(fitted[i], population[i] + effect, rtol=1e-10)
    new, new_draws = predict(posterior, data, spec, {"values": {"x": [0.0]}, "groups": "new"})
    # A new level adds N(0, sd(g)) at every draw: same centre, wider interval.
    assert abs(new["estimate"][0] - none["estimate"][0]) < 0.15
    expected_sd = np.sqrt(population[0].var() + (flat(posterior, "sd") ** 2).mean())
    assert new_draws[0].std() == pytest.approx(expected_sd, rel=0.1)


def test_a_file_of_new_rows(gaussian, data):
    spec, posterior = gaussian
    rows = pd.DataFrame({"x": [0.5, 1.0], "arm": ["treated", "control"], "note": ["a", "b"]})
    table, _ = predict(posterior, data, spec, {"file": "new.csv"}, rows=rows)
    assert list(table[["x", "arm"]].itertuples(index=False, name=None)) == [(0.5, "treated"), (1.0, "control")]
    assert "note" not in table


def test_bernoulli_predictions_average_probabilities_over_draws(data):
    spec = ModelSpec.from_config("b", {"formula": "event ~ x + (1 | g)", "family": "bernoulli", **SAMPLING})
    posterior = fit_model(data, spec).idata.posterior
    _, draws = predict(posterior, data, spec, {"values": {"x": [1.0]}})
    b = posterior["b"].stack(sample=("chain", "draw")).sel(term="x").to_numpy()
    np.testing.assert_allclose(draws[0], expit(flat(posterior, "Intercept") + b), rtol=1e-10)
    assert 0 < draws.min() and draws.max() < 1


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"values": {"age": [1]}}, "column(s) ['age'] are not predictors of the model"),
        ({"values": {"arm": ["placebo"]}}, "column 'arm' has value(s) ['placebo'] not in the data"),
        ({"values": {"x": [0]}, "groups": "fitted"}, "groups 'fitted' needs the grouping column(s) ['g']"),
        ({"values": {"g": ["g99"]}, "groups": "fitted"}, "(use groups: new for a new group)"),
        ({"values": {"x": [0]}, "groups": "all"}, "groups must be one of"),
        ({"values": {"x": [0]}, "file": "a.csv"}, "give either 'values'"),
        ({"values": {"x": []}}, "no values given for ['x']"),
    ],
    ids=["unknown-column", "unknown-level", "fitted-without-group", "unfitted-level", "bad-groups", "both", "empty"],
)
def test_bad_grids_are_clear_errors(gaussian, data, cfg, message):
    spec, posterior = gaussian
    with pytest.raises(ModelSpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        predict(posterior, data, spec, cfg)


def test_terms_that_depend_on_the_whole_data_are_refused(data):
    spec = ModelSpec.from_config("s", {"formula": "y ~ scale(x) + (1 | g)", "family": "gaussian", **SAMPLING})
    posterior = fit_model(data, spec).idata.posterior
    with pytest.raises(ModelSpecError, match="depend on each row alone"):
        predict(posterior, data, spec, {"values": {"x": [5.0]}})


def test_conditional_effects_figure_has_a_panel_per_varied_predictor(gaussian, data):
    spec, posterior = gaussian
    table, _ = predict(posterior, data, spec, {"values": {"x": list(np.linspace(-2, 2, 5)), "arm": ["control", "treated"]}})
    fig = conditional_effects_figure(table, ["x", "arm"], "expected y")
    assert [ax.get_xlabel() for ax in fig.axes] == ["x", "arm"]
    assert len(fig.axes[0].get_lines()) == 2  # one line per arm


def test_prior_predictive_check_is_wider_than_the_posterior_one(data, gaussian_fit):
    prior = prior_predictive_check(data, gaussian_fit.spec, draws=200)
    posterior = gaussian_fit.ppc
    assert list(prior.columns) == list(posterior.columns)
    assert prior[["variable", "level"]].equals(posterior[["variable", "level"]])
    prior_width = prior["replicated_q97.5"] - prior["replicated_q2.5"]
    posterior_width = posterior["replicated_q97.5"] - posterior["replicated_q2.5"]
    assert (prior_width > 2 * posterior_width).all()
    np.testing.assert_allclose(prior["observed_mean"], posterior["observed_mean"])
    fig = predictive_check_figure(prior, "Prior predictive check")
    assert fig.axes[0].get_title() == "mean"


def test_count_and_ordinal_predictions_on_the_data_scale(data):
    """Poisson: the rate exp(eta); cumulative: the mean category number over P(y = k) from the
    thresholds, P(y <= k) = logistic(Intercept[k] - eta)."""
    rng = np.random.default_rng(5)
    counts = data.assign(n=rng.poisson(np.exp(0.3 + 0.5 * data["x"])), rating=np.digitize(data["y"], [0.0, 1.0, 2.0]) + 1)
    poisson = ModelSpec.from_config("p", {"formula": "n ~ x + (1 | g)", "family": "poisson", **SAMPLING})
    posterior = fit_model(counts, poisson).idata.posterior
    _, draws = predict(posterior, counts, poisson, {"values": {"x": [1.0]}})
    b = posterior["b"].stack(sample=("chain", "draw")).sel(term="x").to_numpy()
    np.testing.assert_allclose(draws[0], np.exp(flat(posterior, "Intercept") + b), rtol=1e-10)

    ordinal = ModelSpec.from_config("o", {"formula": "rating ~ x", "family": "cumulative", **SAMPLING})
    posterior = fit_model(counts, ordinal).idata.posterior
    _, draws = predict(posterior, counts, ordinal, {"values": {"x": [-1.0, 1.0]}})
    thresholds = posterior["Intercept"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    b = posterior["b"].stack(sample=("chain", "draw")).sel(term="x").to_numpy()
    for i, x in enumerate([-1.0, 1.0]):
        cdf = np.column_stack([np.zeros(len(b)), expit(thresholds - (x * b)[:, None]), np.ones(len(b))])
        np.testing.assert_allclose(draws[i], np.diff(cdf, axis=1) @ np.arange(1, 5), rtol=1e-10)
    assert draws[1].mean() > draws[0].mean()  # a positive slope moves to higher categories


def test_a_new_level_of_a_correlated_bar_has_the_implied_spread():
    """(x | g): a new group's expected outcome at x has variance sd0^2 + x^2 sd1^2 + 2 x cor sd0 sd1
    (averaged over draws) on top of the population line's own uncertainty."""
    rng = np.random.default_rng(11)
    n_groups, per_group = 30, 8
    sd0, sd1, cor = 1.0, 0.5, 0.5
    cov = [[sd0**2, cor * sd0 * sd1], [cor * sd0 * sd1, sd1**2]]
    effects = rng.multivariate_normal([0, 0], cov, size=n_groups)
    group = np.repeat(np.arange(n_groups), per_group)
    x = np.tile(np.arange(per_group, dtype=float), n_groups)
    y = 1 + effects[group, 0] + (0.3 + effects[group, 1]) * x + rng.normal(0, 0.5, group.size)
    data = pd.DataFrame({"y": y, "x": x, "g": group.astype(str)})
    spec = ModelSpec.from_config("c", {"formula": "y ~ x + (x | g)", "family": "gaussian", **SAMPLING})
    posterior = fit_model(data, spec).idata.posterior
    _, population = predict(posterior, data, spec, {"values": {"x": [5.0]}})
    _, new = predict(posterior, data, spec, {"values": {"x": [5.0]}, "groups": "new"})
    sd = posterior["sd"].stack(sample=("chain", "draw"))
    s0, s1 = sd.sel(sd_term="sd(g)").to_numpy(), sd.sel(sd_term="sd(g)[x]").to_numpy()
    r = flat(posterior, "cor")
    implied = population[0].var() + np.mean(s0**2 + 25 * s1**2 + 10 * r * s0 * s1)
    assert new[0].std() == pytest.approx(np.sqrt(implied), rel=0.1)
