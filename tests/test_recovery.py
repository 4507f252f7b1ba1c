"""The configured models recover the simulators' true parameters (issues: multilevel models,
Study 2). Data go through the workflow's own path: simulate, validate, clean, derive features."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from homeworkflow.data.clean import clean_study1, clean_study2
from homeworkflow.util.config import model_settings
from homeworkflow.data.features import study1_sessions, study2_intervals, study2_sessions
from homeworkflow.models import ModelSpec, fit_model
from homeworkflow.simulate import simulate_study1, simulate_study2
from homeworkflow.study2 import fit_measurement_error_model
from homeworkflow.data.validate import validate_tables

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def interval_90(result, term: str) -> tuple[float, float]:
    """Equal-tailed 90% interval of a population-level term's posterior."""
    posterior = result.idata.posterior
    draws = posterior["Intercept"] if term == "Intercept" else posterior["b"].sel(term=term)
    return tuple(np.quantile(draws.values, [0.05, 0.95]))


def study1_fit(seed: int, **sampling):
    tables, truth = simulate_study1({}, seed=seed)
    tables, _ = clean_study1(validate_tables("study1", tables))
    data, _ = study1_sessions(tables, CONFIG["study1"]["reference_levels"], CONFIG["study1"]["centre"])
    settings = model_settings(CONFIG, "homework") | {"seed": seed, **sampling}
    return fit_model(data, ModelSpec.from_config("homework", settings), threads=2), truth


def study1_population_terms(result, truth) -> list[str]:
    """Every population-level term of the fitted model (the intercept is shifted by centring)."""
    terms = [str(t) for t in result.idata.posterior["term"].values]
    assert set(terms) <= set(truth["log_odds"]), set(terms) - set(truth["log_odds"])
    return terms


def test_study1_every_true_log_odds_ratio_inside_its_90_interval_at_the_default_seed():
    result, truth = study1_fit(CONFIG["seed"])
    missed = []
    for term in study1_population_terms(result, truth):
        low, high = interval_90(result, term)
        if not low <= truth["log_odds"][term] <= high:
            missed.append((term, truth["log_odds"][term], low, high))
    assert not missed, missed
    assert result.diagnostics["divergences"] == 0


@pytest.mark.slow
def test_study1_90_intervals_cover_the_truth_80_to_97_percent_over_20_seeds():
    hits = []
    for seed in range(1, 21):
        result, truth = study1_fit(seed, draws=500, tune=700)
        for term in study1_population_terms(result, truth):
            low, high = interval_90(result, term)
            hits.append(low <= truth["log_odds"][term] <= high)
    coverage = np.mean(hits)
    assert 0.80 <= coverage <= 0.97, coverage


def study2_data(seed: int):
    tables, truth = simulate_study2({}, seed=seed)
    tables, _ = clean_study2(validate_tables("study2", tables))
    centre = CONFIG["study2"]["baseline_centre"]
    intervals = {o: study2_intervals(tables, o, centre[o])[0] for o in ("phq9", "gad7")}
    return intervals, study2_sessions(tables), truth


def outcome_fit(intervals, model: str, seed: int, exposure: str = "review_percentage", **sampling):
    """The configured outcome model, on the detected (default) or the true review percentage."""
    data = intervals.assign(review_percentage=intervals[exposure])
    settings = model_settings(CONFIG, model) | {"seed": seed, **sampling}
    return fit_model(data, ModelSpec.from_config(model, settings), threads=2)


REVIEW_TERMS = ["review_percentage", "review_percentage:baseline_centred"]


@pytest.fixture(scope="module")
def study2_default():
    return study2_data(CONFIG["seed"])


def test_study2_depression_slope_recovered(study2_default):
    """On the true review percentage, the PHQ-9 model's 90% interval holds the true slope (the
    detected percentage is what the measurement-error model is for). At the default seed the
    interaction's estimate lies about 2 posterior SDs below its truth (least squares on the same
    data misses by as much); its calibration over seeds is the slow test below, and the design's
    Study 2 recovery study measures it over 100 data sets (docs/design.md)."""
    intervals, _, truth = study2_default
    result = outcome_fit(intervals["phq9"], "phq9_change", CONFIG["seed"], "review_percentage_true")
    low, high = interval_90(result, "review_percentage")
    assert low <= truth["phq9"]["coefficients"]["review_percentage"] <= high, (low, high)


@pytest.mark.slow
def test_study2_depression_terms_covered_over_seeds():
    """Over 12 seeds, the 90% intervals of slope, interaction and baseline hold the truth in at
    least 75% of the 36 cases (calibrated intervals: 90%, binomial SD 5%). Single seeds miss, as
    one in ten should: at seeds 3 to 5 and the config's seed even least squares misses by 2 SE."""
    hits = []
    for seed in range(1, 13):
        intervals, _, truth = study2_data(seed)
        result = outcome_fit(intervals["phq9"], "phq9_change", seed, "review_percentage_true", draws=500, tune=700)
        for term in REVIEW_TERMS + ["baseline_centred"]:
            low, high = interval_90(result, term)
            hits.append(low <= truth["phq9"]["coefficients"][term] <= high)
    assert np.mean(hits) >= 0.75, hits


def test_study2_null_anxiety_slope_covers_zero(study2_default):
    intervals, _, truth = study2_default
    assert truth["gad7"]["coefficients"]["review_percentage"] == 0
    result = outcome_fit(intervals["gad7"], "gad7_change", CONFIG["seed"])
    low, high = interval_90(result, "review_percentage")
    assert low <= 0 <= high


def test_measurement_error_model_covers_the_true_slope(study2_default):
    intervals, sessions, truth = study2_default
    detection = CONFIG["study2"]["detection"]
    _, summary = fit_measurement_error_model(
        intervals["phq9"], sessions, detection["precision"], detection["recall"],
        seed=CONFIG["seed"], draws=500, tune=700, chains=4, threads=2,
    )  # fmt: skip
    row = summary.set_index("term").loc["review_percentage"]
    assert row["ci90_low"] <= truth["phq9"]["coefficients"]["review_percentage"] <= row["ci90_high"]


@pytest.mark.slow
def test_measurement_error_model_tracks_the_true_review_fit_over_seeds():
    """Over 5 seeds, the measurement-error model on the detected review % gives the slope that the
    same outcome model gives on the true review % (within half its posterior SD on average), and
    its 90% interval covers the truth wherever that fit's does (at seeds 3 to 5 neither does: the
    data themselves sit 2 SE from the truth, see the pooled test above). At the published
    precision the simulator's false positives sit in sessions with review, so the naive slope is
    hardly biased here; the naive bias that the correction removes is shown in test_study2."""
    detection = CONFIG["study2"]["detection"]
    differences, covered, oracle_covered = [], [], []
    for seed in range(1, 6):
        intervals, sessions, truth = study2_data(seed)
        true_slope = truth["phq9"]["coefficients"]["review_percentage"]
        oracle = outcome_fit(intervals["phq9"], "phq9_change", seed, "review_percentage_true", draws=500, tune=700)
        oracle_row = oracle.summary.set_index("term").loc["review_percentage"]
        _, summary = fit_measurement_error_model(
            intervals["phq9"], sessions, detection["precision"], detection["recall"],
            seed=seed, draws=500, tune=700, chains=4, threads=2,
        )  # fmt: skip
        row = summary.set_index("term").loc["review_percentage"]
        differences.append((row["estimate"] - oracle_row["mean"]) / oracle_row["sd"])
        covered.append(row["ci90_low"] <= true_slope <= row["ci90_high"])
        low, high = interval_90(oracle, "review_percentage")
        oracle_covered.append(low <= true_slope <= high)
    assert abs(np.mean(differences)) < 0.5, differences
    assert any(oracle_covered), oracle_covered
    assert all(c for c, o in zip(covered, oracle_covered) if o), (covered, oracle_covered)
