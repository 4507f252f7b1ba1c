"""Model comparison (`compare:`): PSIS-LOO through ArviZ, checks that the models are comparable,
the figure, and the workflow's config checks and rule; with predictions and the prior predictive
check, through the workflow as a user runs it."""

import subprocess
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import norm

from homeworkflow.presentation.figures.models import comparison_figure
from homeworkflow.models import ModelSpecError
from homeworkflow.models.posterior.comparison import COLUMNS, compare_models
from workflow_runner import SNAKEFILE, SNAKEMAKE, run_workflow, tiny_config


def gaussian_fit(y: np.ndarray, mean_draws: np.ndarray, sigma: float = 1.0) -> az.InferenceData:
    """A posterior whose log-likelihood is that of y under N(mean_draws, sigma), 2 chains."""
    draws = mean_draws.reshape(2, -1, 1)
    loglik = norm.logpdf(y, loc=draws, scale=sigma)
    return az.from_dict(
        posterior={"mu": draws[..., 0]},
        log_likelihood={"y": loglik},
        observed_data={"y": y},
    )


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(1)
    y = rng.normal(1.0, 1.0, size=200)
    return {
        "centred": gaussian_fit(y, rng.normal(y.mean(), 0.07, size=1000)),
        "at_zero": gaussian_fit(y, rng.normal(0.0, 0.07, size=1000)),
    }


def test_comparison_ranks_the_better_model_first_and_matches_arviz(fits):
    table = compare_models(fits)
    assert list(table.columns) == COLUMNS
    assert list(table["model"]) == ["centred", "at_zero"]
    assert table["elpd_diff"].iloc[0] == 0 and table["elpd_diff"].iloc[1] > 20
    for name in fits:
        row = table.set_index("model").loc[name]
        loo = az.loo(fits[name])
        assert row["elpd_loo"] == pytest.approx(loo.elpd_loo)
        assert row["se"] == pytest.approx(loo.se)
        assert row["p_loo"] == pytest.approx(loo.p_loo)
        assert row["n_obs"] == 200
    assert table["weight"].sum() == pytest.approx(1.0)
    assert table["n_pareto_k_above_0.7"].tolist() == [0, 0]


def test_comparison_figure_has_one_row_per_model(fits):
    fig = comparison_figure(compare_models(fits))
    ax = fig.axes[0]
    by_height = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert len(by_height) == 2
    assert by_height[1].startswith("centred") and by_height[0].startswith("at_zero")  # best on top


def test_models_of_different_rows_or_outcomes_are_refused(fits):
    y = fits["centred"].observed_data["y"].to_numpy()
    rng = np.random.default_rng(2)
    shorter = gaussian_fit(y[:150], rng.normal(1, 0.1, 1000))
    with pytest.raises(ModelSpecError, match="different rows \\(200 and 150 observations\\)"):
        compare_models({"a": fits["centred"], "b": shorter})
    changed = y.copy()
    changed[[3, 7]] += 1
    with pytest.raises(ModelSpecError, match="differs in 2 row\\(s\\) \\(data rows 4, 8\\)"):
        compare_models({"a": fits["centred"], "b": gaussian_fit(changed, rng.normal(1, 0.1, 1000))})
    other = gaussian_fit(y, rng.normal(1, 0.1, 1000))
    other.observed_data = other.observed_data.rename({"y": "z"})
    with pytest.raises(ModelSpecError, match="different outcomes"):
        compare_models({"a": fits["centred"], "b": other})
    no_loglik = az.from_dict(posterior={"mu": np.zeros((2, 10))}, observed_data={"y": y})
    with pytest.raises(ModelSpecError, match="save_log_likelihood: true"):
        compare_models({"a": fits["centred"], "b": no_loglik})
    with pytest.raises(ModelSpecError, match="at least two models"):
        compare_models({"a": fits["centred"]})


def dry_run(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [*SNAKEMAKE, "-n", "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path), "--cores", "1"]
        + ["--configfile", str(path)],
        capture_output=True,
        text=True,
    )


def test_a_configured_comparison_is_in_the_run(tmp_path):
    config = tiny_config()
    config["models"]["homework_small"] = {**config["models"]["homework"], "formula": "homework ~ child_age + (1 | therapist_id)"}
    config["compare"] = {"homework_predictors": ["homework", "homework_small"]}
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "compare_models" in result.stdout
    assert "comparisons/homework_predictors/comparison.csv" in result.stdout


@pytest.mark.parametrize(
    "models, message",
    [
        (["homework", "nonesuch"], "compare.c names model(s) nonesuch, which are not under models"),
        (["homework", "phq9_change"], "compare.c compares models fitted to different data"),
    ],
    ids=["unknown-model", "different-data"],
)
def test_a_bad_comparison_is_a_config_error(tmp_path, models, message):
    config = tiny_config()
    config["compare"] = {"c": models}
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_workflow_comparison_of_two_fitted_models(tmp_path):
    """Two small models of one table through the workflow's own fits: a finite LOO for each,
    the ordering consistent with elpd, and a figure written."""
    pytest.importorskip("nutpie")
    from homeworkflow.models import ModelSpec, fit_model

    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(12), 10)
    x = rng.normal(size=group.size)
    y = 0.5 + 1.5 * x + rng.normal(0, 0.6, 12)[group] + rng.normal(0, 1, group.size)
    data = pd.DataFrame({"y": y, "x": x, "g": group.astype(str)})
    settings = {"family": "gaussian", "chains": 2, "draws": 300, "tune": 300, "gate": {"on_fail": "warn"}}
    fitted = {
        name: fit_model(data, ModelSpec.from_config(name, {"formula": formula, **settings})).idata
        for name, formula in {"with_x": "y ~ x + (1 | g)", "without_x": "y ~ 1 + (1 | g)"}.items()
    }
    table = compare_models(fitted)
    assert table["model"].iloc[0] == "with_x"
    assert np.isfinite(table["elpd_loo"]).all() and (table["n_obs"] == 120).all()
    assert table["elpd_diff"].iloc[1] > 4 * table["dse"].iloc[1]


@pytest.mark.slow
def test_comparison_predictions_and_prior_check_through_the_workflow(tmp_path):
    """Two Study 1 models compared, predictions over a values grid and a file of new rows, and a
    prior predictive check, from a config as a user writes it."""
    config = tiny_config()
    homework = config["models"]["homework"]
    new_rows = tmp_path / "new_rows.csv"
    pd.DataFrame({"child_age": [-3.0, 3.0], "caregiver_present": [1, 1]}).to_csv(new_rows, index=False)
    homework["predictions"] = {
        "by_age": {"values": {"child_age": [-4, 0, 4], "caregiver_present": [0, 1]}},
        "rows": {"file": str(new_rows), "groups": "new"},
    }
    config["models"]["homework_age"] = {
        **{k: v for k, v in homework.items() if k != "predictions"},
        "formula": "homework ~ child_age + (1 | therapist_id)",
        "prior_predictive": True,
    }
    config["compare"] = {"caregiver": ["homework", "homework_age"]}
    targets = [
        "results/t/comparisons/caregiver/comparison.csv",
        "results/t/models/homework/predictions.csv",
        "results/t/models/homework_age/prior_predictive.csv",
    ]
    run = run_workflow(tmp_path, config, targets=targets, cores=2)
    assert run.returncode == 0, run.describe()
    comparison = pd.read_csv(run.results / "comparisons/caregiver/comparison.csv")
    assert sorted(comparison["model"]) == ["homework", "homework_age"]
    assert (run.results / "comparisons/caregiver/comparison.png").exists()
    predictions = pd.read_csv(run.results / "models/homework/predictions.csv")
    assert list(predictions["grid"]) == ["by_age"] * 6 + ["rows"] * 2
    assert predictions["estimate"].between(0, 1).all()
    figures = (run.results / "models/homework/predictions").iterdir()
    assert sorted(p.name for p in figures if not p.name.startswith(".")) == [
        "by_age.pdf", "by_age.png", "rows.pdf", "rows.png"
    ]
    prior = pd.read_csv(run.results / "models/homework_age/prior_predictive.csv")
    assert {"variable", "level", "observed_mean", "replicated_mean"} <= set(prior.columns)
    # Predictions and the prior check are computed from a fit, not part of it: the fit's params
    # (and so its rerun trigger) do not carry them.
    dry = subprocess.run([*run.args, "-n"], cwd=run.workdir, capture_output=True, text=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout


def test_a_users_count_model_gets_its_rate_ratio_table(tmp_path):
    """A poisson model of a user's own file: its fit and effects.csv (rate ratios) are in the run."""
    config = tiny_config()
    config["models"]["seizures"] = {
        "data": str(Path(__file__).parent / "data" / "epilepsy.csv"),
        "formula": "count ~ zAge + zBase * Trt + (1 | patient)",
        "family": "poisson",
    }
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert "models/seizures/effects.csv" in result.stdout
    assert "models/homework/effects.csv" not in result.stdout  # bernoulli keeps odds_ratios.csv
