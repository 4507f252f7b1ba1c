"""Study 2: descriptive replication, GEE, severity slopes and the measurement-error model.

The data come from a small simulator in this file (the generative story of docs/study2.md): a true
review % per session, a detector with recall 0.75 and precision 0.711 (false positives per unit),
and PHQ-9 change linear in the TRUE interval-mean review % with an interaction with baseline.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from homeworkflow.study2 import (
    BAND_BASELINES,
    PUBLISHED,
    descriptive_replication,
    detector_rates_from_validation,
    false_positive_rate,
    fit_gee,
    fit_measurement_error_model,
    gee_result,
    gee_severity_slopes,
    naive_vs_corrected,
    severity_slopes,
)
from homeworkflow.study2.measurement_error import interval_detection_terms

RECALL, PRECISION = 0.75, 0.711
REVIEW, INTERACTION = "review_percentage", "review_percentage:baseline_centred"
TRUTH = {"Intercept": -1.0, REVIEW: -0.08, "baseline_centred": -0.15, INTERACTION: 0.01}
GROUP_SDS = {"organisation_id": 0.5, "therapist_id": 0.7, "client_id": 1.0}
SIGMA = 2.0
SLOPE_TERMS = [REVIEW, "baseline_centred", INTERACTION]


def simulate(seed, n_clients=400, n_therapists=80, n_orgs=14):
    """(sessions, phq9 intervals, false-positive rate) with the feature tables' columns."""
    rng = np.random.default_rng(seed)
    org = rng.integers(0, n_orgs, n_therapists)
    therapist = rng.integers(0, n_therapists, n_clients)
    effects = {
        g: rng.normal(0, s, n) for (g, s), n in zip(GROUP_SDS.items(), (n_orgs, n_therapists, n_clients))
    }

    n_sessions = 2 + rng.poisson(4, n_clients)
    client = np.repeat(np.arange(n_clients), n_sessions)
    number = np.concatenate([np.arange(1, k + 1) for k in n_sessions])
    n_units = 100 + rng.poisson(200, len(client))
    # About half the sessions review; reviewing clients differ in how much.
    reviews = rng.random(len(client)) < expit(rng.normal(0, 1, n_clients))[client]
    mean_share = np.exp(rng.normal(np.log(0.07), 0.4, n_clients))[client]
    share = rng.beta(15 * mean_share, 15 * (1 - mean_share)) * reviews
    true_units = rng.binomial(n_units, share)
    p_true = true_units.sum() / n_units.sum()
    fpr = RECALL * p_true * (1 - PRECISION) / (PRECISION * (1 - p_true))
    detected = rng.binomial(true_units, RECALL) + rng.binomial(n_units - true_units, fpr)
    ar = rng.poisson(4.5, len(client))
    sessions = pd.DataFrame(
        {
            "session_id": np.arange(len(client)),
            "client_id": client,
            "therapist_id": therapist[client],
            "organisation_id": org[therapist[client]],
            "session_number": number,
            "n_units": n_units,
            "ar_count": ar,
            "any_ar": ar > 0,
            "review_units": detected,
            "review_percentage": 100 * detected / n_units,
            "any_review": detected > 0,
            "review_units_true": true_units,
            "review_percentage_true": 100 * true_units / n_units,
        }
    )
    # PHQ-9 before session 1, then before each later session with probability 0.7, and after the last.
    assessed = (number == 1) | (rng.random(len(client)) < 0.7)
    sessions["interval"] = assessed.astype(int).cumsum()
    intervals = (
        sessions.groupby("interval")
        .agg(
            client_id=("client_id", "first"),
            therapist_id=("therapist_id", "first"),
            organisation_id=("organisation_id", "first"),
            start_session=("session_number", "min"),
            n_sessions=("session_number", "size"),
            review_percentage=("review_percentage", "mean"),
            review_percentage_true=("review_percentage_true", "mean"),
        )
        .reset_index(drop=True)
    )
    intervals["interval"] = intervals.groupby("client_id").cumcount() + 1
    intervals["end_session"] = intervals["start_session"] + intervals["n_sessions"]
    c, t, o = (intervals[g].to_numpy() for g in ("client_id", "therapist_id", "organisation_id"))
    client_baseline = np.clip(rng.normal(12, 5, n_clients), 0, 27)
    intervals["baseline"] = np.clip(client_baseline[c] + rng.normal(0, 2.5, len(c)), 0, 27)
    intervals["baseline_centred"] = intervals["baseline"] - 10
    true_review, bc = intervals["review_percentage_true"], intervals["baseline_centred"]
    intervals["change"] = (
        TRUTH["Intercept"]
        + TRUTH[REVIEW] * true_review
        + TRUTH["baseline_centred"] * bc
        + TRUTH[INTERACTION] * true_review * bc
        + effects["client_id"][c]
        + effects["therapist_id"][t]
        + effects["organisation_id"][o]
        + rng.normal(0, SIGMA, len(c))
    )
    return sessions.drop(columns="interval"), intervals, fpr


@pytest.fixture(scope="module")
def data():
    return simulate(1)


def on_true_review(intervals):
    return intervals.assign(review_percentage=intervals["review_percentage_true"])


# --- descriptive replication ---------------------------------------------------------------------


def test_descriptive_table_has_overall_and_organisation_rows_with_published_values(data):
    sessions, _, _ = data
    table = descriptive_replication(sessions)
    assert list(table.columns) == ["scope", "statistic", "value", "published"]
    assert set(table["scope"]) == {"overall"} | {str(o) for o in sessions["organisation_id"].unique()}
    overall = table[table["scope"] == "overall"].set_index("statistic")
    expected = {
        "share_sessions_with_ar",
        "mean_ar_per_session",
        "sd_ar_per_session",
        "min_ar",
        "max_ar",
        "share_ar_0",
        "share_ar_8plus",
        "share_sessions_with_review",
        "review_percentage_mean",
        "review_percentage_median",
        "review_percentage_q25",
        "review_percentage_q75",
        "review_percentage_share_positive",
    }
    assert expected <= set(overall.index)
    assert overall.loc["mean_ar_per_session", "value"] == pytest.approx(sessions["ar_count"].mean())
    assert overall.loc["share_sessions_with_review", "value"] == pytest.approx(sessions["any_review"].mean())
    shares = overall.loc[[f"share_ar_{k}" for k in range(8)] + ["share_ar_8plus"], "value"]
    assert shares.sum() == pytest.approx(1.0)
    assert overall["published"].dropna().to_dict() == PUBLISHED
    assert table.loc[table["scope"] != "overall", "published"].isna().all()


# --- GEE -----------------------------------------------------------------------------------------


def test_gee_on_true_review_covers_the_truth(data):
    _, intervals, _ = data
    table = fit_gee(on_true_review(intervals)).set_index("term")
    assert list(table.index) == ["Intercept", *SLOPE_TERMS]
    assert (table["method"] == "GEE (exchangeable, clustered by client)").all()
    # The intercept also carries the realised organisation and therapist effects: slopes only.
    for term in SLOPE_TERMS:
        assert table.loc[term, "ci_low"] <= TRUTH[term] <= table.loc[term, "ci_high"], term


def test_gee_on_detected_review_is_biased(data):
    """Detected % = 100 fpr + (recall - fpr) x true % + noise: the naive slope is stretched by
    about 1 / (recall - fpr), barely offset by attenuation from the noise."""
    _, intervals, fpr = data
    naive = fit_gee(intervals).set_index("term")["estimate"]
    on_true = fit_gee(on_true_review(intervals)).set_index("term")["estimate"]
    for term in (REVIEW, INTERACTION):
        ratio = naive[term] / on_true[term]
        assert 1.15 < ratio < 1 / (RECALL - fpr) + 0.05, (term, ratio)


# --- severity slopes -----------------------------------------------------------------------------


def test_severity_slopes_algebra_on_known_draws():
    draws = {REVIEW: np.array([-0.1, -0.2, 0.1, -0.4]), INTERACTION: np.array([0.01, 0.02, 0.0, -0.01])}
    table = severity_slopes(draws, BAND_BASELINES["phq9"], centre=10).set_index("band")
    assert list(table.index) == ["mild", "moderate", "moderately severe or severe"]
    assert table["baseline"].tolist() == [7.0, 12.0, 21.0]
    mild = np.array([-0.13, -0.26, 0.1, -0.37])  # slope at 7: review + interaction * (7 - 10)
    assert table.loc["mild", "estimate"] == pytest.approx(mild.mean())
    assert table.loc["mild", "std_error"] == pytest.approx(mild.std(ddof=1))
    assert table.loc["mild", "ci_low"] == pytest.approx(np.quantile(mild, 0.025))
    assert table.loc["mild", "ci90_high"] == pytest.approx(np.quantile(mild, 0.95))
    assert table.loc["mild", "p_beneficial"] == 0.75
    severe = np.array([0.01, 0.02, 0.1, -0.51])  # at 21
    assert table.loc["moderately severe or severe", "estimate"] == pytest.approx(severe.mean())
    assert table["p_beneficial"].between(0, 1).all()
    assert (table["method"] == "posterior").all()


def test_gee_severity_slopes_by_delta_method(data):
    _, intervals, _ = data
    result = gee_result(intervals)
    table = gee_severity_slopes(result, BAND_BASELINES["phq9"], centre=10).set_index("band")
    b, cov = result.params, result.cov_params()
    d = 21.0 - 10
    expected_var = (
        cov.loc[REVIEW, REVIEW]
        + d**2 * cov.loc[INTERACTION, INTERACTION]
        + 2 * d * cov.loc[REVIEW, INTERACTION]
    )
    row = table.loc["moderately severe or severe"]
    assert row["estimate"] == pytest.approx(b[REVIEW] + d * b[INTERACTION])
    assert row["std_error"] == pytest.approx(np.sqrt(expected_var))
    assert row["ci_low"] < row["ci90_low"] < row["estimate"] < row["ci90_high"] < row["ci_high"]
    # At the centre the band slope is the review_percentage coefficient itself.
    at_centre = gee_severity_slopes(result, {"centre": 10.0}, centre=10).iloc[0]
    assert at_centre["std_error"] == pytest.approx(result.bse[REVIEW])
    assert table["p_value"].between(0, 1).all()


def test_naive_vs_corrected_with_truth():
    naive = pd.DataFrame(
        {"term": [REVIEW, "x"], "estimate": [-0.1, 1.0], "ci_low": [-0.12, 0.0], "ci_high": [-0.09, 2.0]}
    )
    corrected = naive.assign(estimate=[-0.08, 1.0], ci_low=[-0.1, 0.5], ci_high=[-0.06, 1.5])
    table = naive_vs_corrected(naive, corrected, {REVIEW: -0.08}).set_index("term")
    assert table.loc[REVIEW, "naive_error"] == pytest.approx(-0.02)
    assert table.loc[REVIEW, "corrected_error"] == pytest.approx(0.0)
    assert not table.loc[REVIEW, "naive_covers"] and table.loc[REVIEW, "corrected_covers"]
    assert np.isnan(table.loc["x", "truth"])



def test_analysis_truth_moves_the_simulators_centre_to_the_analysis_centre():
    """Change = a + b r + g r (B - c) + s (B - c): centred at c' instead, the intercept and the
    review slope absorb d = c' - c; a least-squares fit on noise-free data agrees. Sigma is the
    rounded scores' residual SD where the truth gives it."""
    from homeworkflow.study2.comparison import analysis_truth

    coefficients = {"Intercept": -0.5, REVIEW: -0.08, "baseline_centred": -0.3, INTERACTION: 0.006, "sigma": 2.0}
    truth = {"phq9": {"coefficients": coefficients, "centre": 10.0}}
    assert analysis_truth(truth, "phq9", 10.0) == coefficients
    rounded = analysis_truth({"phq9": {**truth["phq9"], "sigma_with_rounding": 2.02}}, "phq9", 10.0)
    assert rounded == {**coefficients, "sigma": 2.02}
    moved = analysis_truth(truth, "phq9", 14.0)
    assert moved["Intercept"] == pytest.approx(-0.5 - 0.3 * 4) and moved[REVIEW] == pytest.approx(-0.08 + 0.006 * 4)
    assert {k: moved[k] for k in ("baseline_centred", INTERACTION, "sigma")} == {
        k: coefficients[k] for k in ("baseline_centred", INTERACTION, "sigma")
    }
    rng = np.random.default_rng(0)
    r, baseline = rng.uniform(0, 20, 50), rng.integers(0, 28, 50).astype(float)
    change = -0.5 - 0.08 * r + 0.006 * r * (baseline - 10) - 0.3 * (baseline - 10)
    x = baseline - 14
    fitted = np.linalg.lstsq(np.column_stack([np.ones(50), r, x, r * x]), change, rcond=None)[0]
    assert fitted == pytest.approx([moved[t] for t in ("Intercept", REVIEW, "baseline_centred", INTERACTION)])

# --- measurement-error model: pieces -------------------------------------------------------------


def test_false_positive_rate_reproduces_precision():
    p_true, recall, precision = 0.04, 0.75, 0.711
    fpr = recall * p_true * (1 - precision) / (precision * (1 - p_true))  # false positives anywhere
    detected_share = recall * p_true + fpr * (1 - p_true)
    assert false_positive_rate(precision, recall, detected_share) == pytest.approx(fpr)
    # False positives only in sessions holding 30% of the units (and all the true review).
    fpr_eligible = recall * p_true * (1 - precision) / (precision * (0.3 - p_true))
    detected_share = recall * p_true + fpr_eligible * (0.3 - p_true)
    assert false_positive_rate(precision, recall, detected_share, 0.3) == pytest.approx(fpr_eligible)


def test_detector_rates_from_validation_counts():
    table = pd.DataFrame({"human": [1] * 10 + [0] * 90, "detected": [1] * 7 + [0] * 3 + [1] * 3 + [0] * 87})
    rates = detector_rates_from_validation(table)
    assert rates == {"precision": (8.0, 4.0), "recall": (8.0, 4.0)}  # TP 7, FP 3, FN 3
    with pytest.raises(ValueError, match="validation table"):
        detector_rates_from_validation(table.assign(detected=0))


def test_interval_detection_terms_use_the_intervals_sessions(data):
    sessions, intervals, _ = data
    terms = interval_detection_terms(intervals, sessions)
    row = intervals.iloc[5]
    inside = sessions[
        (sessions["client_id"] == row["client_id"])
        & sessions["session_number"].between(row["start_session"], row["end_session"] - 1)
    ]
    detected = inside[inside["review_units"] > 0]
    k = len(inside)
    assert terms.loc[5, "h"] == pytest.approx((1 / inside["n_units"]).sum() / k**2)
    assert terms.loc[5, "h_detected"] == pytest.approx((1 / detected["n_units"]).sum() / k**2)
    assert terms.loc[5, "detected_sessions"] == pytest.approx(len(detected) / k)
    assert 0 < terms["detected_sessions"].mean() < 1
    with pytest.raises(ValueError, match="no sessions"):
        interval_detection_terms(intervals.assign(start_session=99), sessions)


# --- measurement-error model: fits --------------------------------------------------------------

FAST = {"draws": 300, "tune": 300, "chains": 2}
SLOW = {"draws": 500, "tune": 500, "chains": 2}
REPORTED = ["Intercept", *SLOPE_TERMS, "sd(organisation_id)", "sd(therapist_id)", "sd(client_id)", "sigma"]


@pytest.fixture(scope="module")
def fixed_rate_fit(data):
    sessions, intervals, _ = data
    return fit_measurement_error_model(intervals, sessions, PRECISION, RECALL, seed=1, **FAST)


def test_measurement_error_model_covers_the_true_slope(data, fixed_rate_fit):
    sessions, intervals, fpr = data
    idata, summary = fixed_rate_fit
    assert summary["term"].tolist()[: len(REPORTED)] == REPORTED
    table = summary.set_index("term")
    assert table.loc[REVIEW, "ci90_low"] <= TRUTH[REVIEW] <= table.loc[REVIEW, "ci90_high"]
    assert table.loc[REPORTED, "rhat"].max() < 1.05
    # The implied false-positive rate and the latent mean recover the simulator's.
    assert table.loc["fpr", "estimate"] == pytest.approx(fpr, rel=0.05)
    true_mean = intervals["review_percentage_true"].mean()
    assert table.loc["mean_true_review_percentage", "estimate"] == pytest.approx(true_mean, rel=0.05)
    # It agrees with the GEE fitted on the true review % far better than the naive GEE does.
    oracle = fit_gee(on_true_review(intervals)).set_index("term")["estimate"]
    naive = fit_gee(intervals).set_index("term")["estimate"]
    assert abs(table.loc[REVIEW, "estimate"] - oracle[REVIEW]) < 0.25 * abs(naive[REVIEW] - oracle[REVIEW])
    # Its draws feed the band slopes directly.
    draws = {term: idata.posterior["b"].sel(term=term).values for term in (REVIEW, INTERACTION)}
    slopes = severity_slopes(draws, BAND_BASELINES["phq9"], centre=10)
    assert slopes["p_beneficial"].between(0, 1).all()
    assert idata.posterior["true_review_percentage"].shape[-1] == len(intervals)


@pytest.mark.slow
def test_corrected_model_is_unbiased_where_the_naive_gee_is_not():
    """Over 5 simulated data sets: the corrected 90% interval covers the true slope in most, and
    the mean error of the naive (detected %) GEE slope is far larger than the corrected one's."""
    naive_errors, corrected_errors, covered = [], [], 0
    for seed in range(2, 7):
        sessions, intervals, _ = simulate(seed)
        _, summary = fit_measurement_error_model(intervals, sessions, PRECISION, RECALL, seed=seed, **SLOW)
        table = naive_vs_corrected(fit_gee(intervals), summary, TRUTH).set_index("term")
        naive_errors.append(table.loc[REVIEW, "naive_error"])
        corrected_errors.append(table.loc[REVIEW, "corrected_error"])
        row = summary.set_index("term").loc[REVIEW]
        covered += row["ci90_low"] <= TRUTH[REVIEW] <= row["ci90_high"]
    naive_bias, corrected_bias = np.mean(naive_errors), np.mean(corrected_errors)
    assert covered >= 3
    assert naive_bias < -0.01  # more review looks more beneficial than it is
    assert abs(naive_bias) > 2 * abs(corrected_bias), (naive_errors, corrected_errors)


@pytest.mark.slow
def test_uncertain_detector_rates_from_validation_widen_the_interval(data, fixed_rate_fit):
    sessions, intervals, _ = data
    rng = np.random.default_rng(7)
    human = rng.random(2000) < 0.2  # validation units; false-positive rate giving precision 0.711
    fpr = RECALL * 0.2 * (1 - PRECISION) / (PRECISION * 0.8)
    detected = np.where(human, rng.random(2000) < RECALL, rng.random(2000) < fpr)
    rates = detector_rates_from_validation(pd.DataFrame({"human": human, "detected": detected}))
    idata, summary = fit_measurement_error_model(intervals, sessions, **rates, seed=1, **FAST)
    table, fixed = summary.set_index("term"), fixed_rate_fit[1].set_index("term")
    assert table.loc[REVIEW, "ci90_low"] <= TRUTH[REVIEW] <= table.loc[REVIEW, "ci90_high"]
    assert table.loc[REVIEW, "std_error"] > fixed.loc[REVIEW, "std_error"]
    assert table.loc["recall", "std_error"] > 0.01
