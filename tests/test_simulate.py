"""The simulators: sizes, the input contract, the stated targets, confounding, detection,
recovery of the true parameters, determinism, parameter overrides and speed."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from homeworkflow.data.contract import STUDIES, STUDY1_EBPS, STUDY1_RACE_ETHNICITY
from homeworkflow.simulate import STUDY1_DEFAULTS, STUDY2_DEFAULTS, simulate_study1, simulate_study2

SEEDS = [20240701, 0, 1]  # the config's master seed, and two more
LEVELS = {("study1", "ebp"): STUDY1_EBPS, ("study1", "race_ethnicity"): STUDY1_RACE_ETHNICITY}


@pytest.fixture(scope="module", params=SEEDS)
def study1(request):
    return simulate_study1({}, seed=request.param)


@pytest.fixture(scope="module", params=SEEDS)
def study2(request):
    return simulate_study2({}, seed=request.param)


def assert_satisfies_contract(study: str, tables: dict[str, pd.DataFrame]) -> None:
    """Column names, kinds, nulls, ranges, levels, unique keys and resolving foreign keys."""
    contract = STUDIES[study]
    assert set(tables) == set(contract)
    for name, table in contract.items():
        df = tables[name]
        required = {c.name for c in table.columns if c.required}
        assert required <= set(df.columns) <= set(table.names), name
        for column in table.columns:
            if column.name not in df:
                continue
            values = df[column.name]
            where = f"{study}.{name}.{column.name}"
            if not column.nullable:
                assert values.notna().all(), where
            check_kind = {
                "id": pd.api.types.is_string_dtype,
                "category": pd.api.types.is_string_dtype,
                "int": pd.api.types.is_integer_dtype,
                "float": pd.api.types.is_float_dtype,
                "bool": pd.api.types.is_bool_dtype,
            }[column.kind]
            assert check_kind(values.dtype), f"{where}: {values.dtype}"
            present = values.dropna()
            if column.min is not None:
                assert (present >= column.min).all(), where
            if column.max is not None:
                assert (present <= column.max).all(), where
            levels = column.levels or LEVELS.get((study, column.name))
            if levels is not None:
                assert present.isin(levels).all(), where
        assert not df.duplicated(list(table.key)).any(), f"{study}.{name}: duplicate key"
        for column, parent in table.parents.items():
            parent_key = contract[parent].key[0]
            assert df[column].isin(tables[parent][parent_key]).all(), f"{study}.{name}.{column}"


# --------------------------------------------------------------------------- Study 1


def test_study1_sizes_and_contract(study1):
    tables, truth = study1
    assert [len(tables[t]) for t in ("therapists", "clients", "sessions")] == [103, 274, 680]
    assert_satisfies_contract("study1", tables)
    # Every therapist has a client and every client a session; a client has one therapist.
    assert set(tables["clients"].therapist_id) == set(tables["therapists"].therapist_id)
    assert set(tables["sessions"].client_id) == set(tables["clients"].client_id)
    assert tables["clients"].client_id.is_unique
    assert tables["therapists"].therapist_id.iloc[0] == "T001"
    assert tables["clients"].client_id.iloc[0] == "C0001"
    assert tables["sessions"].session_id.iloc[0] == "S00001"
    # Allocation is uneven.
    assert tables["clients"].therapist_id.value_counts().nunique() > 1
    assert tables["sessions"].client_id.value_counts().nunique() > 1


def test_study1_targets(study1):
    tables, _ = study1
    therapists, clients, sessions = tables["therapists"], tables["clients"], tables["sessions"]
    assert sessions.caregiver_present.mean() == pytest.approx(0.42, abs=0.05)
    assert sessions.homework.mean() == pytest.approx(0.30, abs=0.06)
    assert 1 - therapists.licensed.mean() == pytest.approx(0.58, abs=0.10)
    assert (therapists.race_ethnicity == "Hispanic/Latinx").mean() == pytest.approx(0.55, abs=0.10)
    assert clients.child_age.mean() == pytest.approx(9.85, abs=0.8)
    assert clients.child_age.between(1, 18).all()
    assert clients.child_female.mean() == pytest.approx(0.52, abs=0.01)
    assert clients.child_latinx.mean() == pytest.approx(0.72, abs=0.01)
    assert therapists.n_ebps_trained.between(1, 6).all()
    assert therapists.emotional_exhaustion.between(0, 6).all()
    assert sessions.stressful_event.mean() == pytest.approx(0.20, abs=0.05)


def test_study1_confounding_is_real(study1):
    tables, _ = study1
    s = tables["sessions"].merge(tables["clients"], on="client_id")
    young, teen = s[s.child_age < 7], s[s.child_age >= 13]
    assert young.caregiver_present.mean() - teen.caregiver_present.mean() > 0.15
    caregiver_ebps = s.ebp.isin(["CPP", "Triple P"])
    assert s[caregiver_ebps].caregiver_present.mean() > 0.7
    assert s[~caregiver_ebps].caregiver_present.mean() < 0.45
    # EBPs are gated by age (completed years, bounds inclusive).
    years = np.floor(s.child_age)
    for key, level in zip(STUDY1_DEFAULTS["ebp_weights"], STUDY1_EBPS):
        in_ebp = s.ebp == level
        low, high = STUDY1_DEFAULTS["ebp_min_age"][key], STUDY1_DEFAULTS["ebp_max_age"][key]
        assert years[in_ebp].between(low, high).all(), level
    assert s[s.ebp == "CPP"].child_age.max() < 7
    assert s[s.ebp.isin(["Seeking Safety", "CBITS"])].child_age.min() >= 11
    # A client's EBP is mostly constant across their sessions.
    modal = s.groupby("client_id").ebp.agg(lambda e: e.value_counts().iloc[0] / len(e))
    per_session = s.client_id.map(modal)
    assert per_session.mean() > 0.85
    # Therapists are trained in at least the EBPs they deliver.
    delivered = s.groupby("therapist_id").ebp.nunique()
    trained = tables["therapists"].set_index("therapist_id").n_ebps_trained
    assert (trained.loc[delivered.index] >= delivered).all()


def test_study1_truth_terms(study1):
    _, truth = study1
    lo = truth["log_odds"]
    expected_terms = (
        {
            "Intercept",
            "caregiver_present[True]",
            "child_age",
            "licensed[True]",
            "n_ebps_trained",
            "ebp_fit",
            "emotional_exhaustion",
            "direct_client_hours",
            "stressful_event[True]",
            "sd(therapist_id)",
            "sd(client_id)",
        }
        | {f"ebp[{e}]" for e in STUDY1_EBPS[1:]}
        | {f"race_ethnicity[{r}]" for r in STUDY1_RACE_ETHNICITY[1:]}
    )
    assert expected_terms <= set(lo)
    assert lo["caregiver_present[True]"] == pytest.approx(math.log(2.0))
    assert lo["child_age"] == pytest.approx(math.log(1.10))
    assert lo["licensed[True]"] == pytest.approx(-math.log(1.8))
    assert lo["race_ethnicity[White]"] == 0.0 and lo["emotional_exhaustion"] == 0.0
    assert (lo["sd(therapist_id)"], lo["sd(client_id)"]) == (0.9, 0.6)
    assert truth["reference_levels"]["ebp"] == "MAP"
    assert json.loads(json.dumps(truth, allow_nan=False)) == truth


def _logistic_fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression by Newton-Raphson: estimates and standard errors."""
    beta = np.zeros(X.shape[1])
    for _ in range(30):
        p = 1 / (1 + np.exp(-X @ beta))
        hessian = X.T @ (X * (p * (1 - p))[:, None])
        step = np.linalg.solve(hessian, X.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return beta, np.sqrt(np.diag(np.linalg.inv(hessian)))


def test_study1_truth_is_what_a_model_on_the_raw_data_recovers():
    """Without random intercepts a plain logistic regression on the raw columns must recover
    truth['log_odds'] term by term (names, signs, per-unit scale, reference levels, intercept)."""
    params = {
        "sizes": {"n_therapists": 2000, "n_clients": 20000, "n_sessions": 60000},
        "homework": {
            "sd_therapist": 0.0,
            "sd_client": 0.0,
            "or_ebp_fit": 1.4,
            "or_n_ebps_trained": 0.85,
            "or_emotional_exhaustion": 1.2,
            "or_direct_client_hours": 0.97,
            "or_stressful_event": 0.6,
        },
        "homework_race_ethnicity_or": {"white": 1.5, "black": 0.7},
    }
    tables, truth = simulate_study1(params, seed=7)
    d = (
        tables["sessions"]
        .merge(tables["clients"], on="client_id")
        .merge(tables["therapists"], on="therapist_id")
    )
    columns = {"Intercept": np.ones(len(d))}
    for term in truth["log_odds"]:
        if term == "Intercept" or term.startswith("sd("):
            continue
        if "[" in term:
            variable, level = term[:-1].split("[")
            columns[term] = (d[variable].astype(str) == level).to_numpy(float)
        else:
            columns[term] = d[term].to_numpy(float)
    beta, se = _logistic_fit(np.column_stack(list(columns.values())), d.homework.to_numpy(float))
    for term, estimate, error in zip(columns, beta, se):
        assert abs(estimate - truth["log_odds"][term]) < 4.5 * error, term


# --------------------------------------------------------------------------- Study 2


def test_study2_sizes_and_contract(study2):
    tables, truth = study2
    assert tables["therapists"].organisation_id.nunique() == 14
    assert [len(tables[t]) for t in ("therapists", "clients", "sessions")] == [120, 600, 2444]
    assert_satisfies_contract("study2", tables)
    assert tables["therapists"].organisation_id.iloc[0] == "O01"
    sessions, assessments = tables["sessions"], tables["assessments"]
    assert set(tables["clients"].therapist_id) == set(tables["therapists"].therapist_id)
    assert set(sessions.client_id) == set(tables["clients"].client_id)
    assert not sessions.duplicated(["client_id", "session_number"]).any()
    per_client = sessions.groupby("client_id").session_number.agg(["min", "max", "count"])
    assert (per_client["min"] == 1).all() and (per_client["max"] == per_client["count"]).all()
    assert per_client["count"].between(2, 8).all() and per_client["count"].nunique() > 1
    assert (sessions.review_units <= sessions.n_units).all()
    assert (sessions.review_units_true <= sessions.n_units).all()
    assert np.allclose(sessions.review_percentage, 100 * sessions.review_units / sessions.n_units)
    assert (sessions.loc[sessions.session_number == 1, "review_units_true"] == 0).all()
    # Assessments: at intake, then every few sessions, and at the client's last session.
    keys = assessments.merge(
        sessions, on=["client_id", "session_number"], how="left", indicator=True
    )
    assert (keys["_merge"] == "both").all()
    first_last = assessments.groupby("client_id").session_number.agg(["min", "max"])
    assert (first_last["min"] == 1).all()
    assert (first_last["max"] == per_client.loc[first_last.index, "max"]).all()
    gaps = assessments.groupby("client_id").session_number.diff().dropna()
    assert gaps.between(1, STUDY2_DEFAULTS["assessments"]["gap_max"]).all()


def test_study2_targets(study2):
    tables, truth = study2
    s = tables["sessions"]
    assert (s.ar_count >= 1).mean() == pytest.approx(0.95, abs=0.03)
    assert 4 <= s.ar_count.mean() <= 5 and s.ar_count.max() <= 8
    assert (s.ar_true >= 1).mean() == pytest.approx(0.95, abs=0.03)
    assert 4 <= s.ar_true.mean() <= 5 and s.ar_true.max() <= 8
    assert (s.review_units > 0).mean() == pytest.approx(0.50, abs=0.07)
    # Review percentage varies between clients, not only between sessions.
    assert s.groupby("client_id").review_percentage_true.mean().std() > 1.0
    detection = truth["detection"]
    assert detection["ar"]["realised"]["precision"] == pytest.approx(0.76, abs=0.03)
    assert detection["review"]["realised"]["precision"] == pytest.approx(0.711, abs=0.03)
    assert detection["ar"]["realised"]["recall"] == pytest.approx(0.75, abs=0.03)
    assert detection["review"]["realised"]["recall"] == pytest.approx(0.75, abs=0.03)
    # Baseline PHQ-9 covers every severity band; GAD-7 goes with it.
    intake = tables["assessments"].query("session_number == 1")
    bands = np.searchsorted([5, 10, 15, 20], intake.phq9, side="right")
    assert set(bands) == {0, 1, 2, 3, 4}
    assert np.corrcoef(intake.phq9, intake.gad7)[0, 1] > 0.3


def test_study2_detector_settings_are_honoured():
    params = {
        "detection": {
            "review_precision": 0.9,
            "review_recall": 0.6,
            "ar_precision": 0.85,
            "ar_recall": 0.9,
        }
    }
    tables, truth = simulate_study2(params, seed=3)
    s, d = tables["sessions"], truth["detection"]
    assert d["review"]["realised"]["precision"] == pytest.approx(0.9, abs=0.03)
    assert d["review"]["realised"]["recall"] == pytest.approx(0.6, abs=0.03)
    assert d["ar"]["realised"]["precision"] == pytest.approx(0.85, abs=0.03)
    assert d["ar"]["realised"]["recall"] == pytest.approx(0.9, abs=0.03)
    # The true prevalence is recalibrated so the detected shares stay at the stated values.
    assert (s.review_units > 0).mean() == pytest.approx(0.50, abs=0.05)
    assert (s.ar_count >= 1).mean() == pytest.approx(0.95, abs=0.03)


def test_study2_truth_structure(study2):
    _, truth = study2
    phq = truth["phq9"]["coefficients"]
    assert set(phq) >= {
        "Intercept",
        "review_percentage",
        "baseline_centred",
        "review_percentage:baseline_centred",
        "sd(client_id)",
        "sd(therapist_id)",
        "sd(organisation_id)",
        "sigma",
    }
    assert phq["review_percentage"] < 0 < phq["review_percentage:baseline_centred"]
    bands = truth["phq9"]["review_slope_by_band"]
    slopes = [bands[b]["at_midpoint"] for b in ("mild", "moderate", "moderately severe or severe")]
    assert slopes == sorted(slopes) and slopes[0] < 0  # benefit strongest for mild depression
    gad = truth["gad7"]["coefficients"]
    assert gad["review_percentage"] == 0 and gad["review_percentage:baseline_centred"] == 0
    assert truth["phq9"]["clipped_share"] < 0.01 and truth["gad7"]["clipped_share"] < 0.02
    assert json.loads(json.dumps(truth, allow_nan=False)) == truth


def intervals(tables: dict[str, pd.DataFrame], scale: str, centre: float) -> pd.DataFrame:
    """Assessment intervals with the mean TRUE review percentage over sessions start..next-1."""
    s = tables["sessions"].sort_values(["client_id", "session_number"])
    s = s.assign(cum=s.groupby("client_id").review_percentage_true.cumsum())[
        ["client_id", "session_number", "cum"]
    ]
    a = tables["assessments"].sort_values(["client_id", "session_number"])
    a = a.assign(
        end=a.groupby("client_id").session_number.shift(-1),
        end_score=a.groupby("client_id")[scale].shift(-1),
        intake=a.groupby("client_id")[scale].transform("first"),
    ).dropna(subset=["end"])
    a = a.assign(upto_end=a.end.astype(int) - 1, upto_start=a.session_number - 1)
    cum_end = a.merge(
        s, left_on=["client_id", "upto_end"], right_on=["client_id", "session_number"], how="left"
    ).cum
    cum_start = a.merge(
        s, left_on=["client_id", "upto_start"], right_on=["client_id", "session_number"], how="left"
    ).cum
    review = (cum_end.to_numpy() - cum_start.fillna(0).to_numpy()) / (
        a.end.to_numpy() - a.session_number.to_numpy()
    )
    return pd.DataFrame(
        {
            "change": a.end_score.to_numpy() - a[scale].to_numpy(),
            "review_percentage": review,
            "baseline_centred": a.intake.to_numpy() - centre,
        }
    )


@pytest.mark.parametrize("scale", ["phq9", "gad7"])
def test_study2_truth_is_what_the_change_model_recovers(scale):
    """Without group effects, least squares on the intervals (true review percentage) recovers the
    truth coefficients; clipping at the scale's ends is rare enough not to matter."""
    no_groups = {"sd_client": 0.0, "sd_therapist": 0.0, "sd_organisation": 0.0}
    params = {
        "sizes": {
            "n_organisations": 30,
            "n_therapists": 1500,
            "n_clients": 30000,
            "n_sessions": 122000,
        },
        f"{scale}_change": no_groups,
    }
    tables, truth = simulate_study2(params, seed=11)
    d = intervals(tables, scale, truth[scale]["centre"])
    X = np.column_stack(
        [
            np.ones(len(d)),
            d.review_percentage,
            d.baseline_centred,
            d.review_percentage * d.baseline_centred,
        ]
    )
    beta, *_ = np.linalg.lstsq(X, d.change.to_numpy(float), rcond=None)
    residual = d.change.to_numpy(float) - X @ beta
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * residual.var())
    coefficients = truth[scale]["coefficients"]
    names = [
        "Intercept",
        "review_percentage",
        "baseline_centred",
        "review_percentage:baseline_centred",
    ]
    for name, estimate, error in zip(names, beta, se):
        assert abs(estimate - coefficients[name]) < 4.5 * error, (
            name,
            estimate,
            coefficients[name],
        )
    assert residual.std() == pytest.approx(truth[scale]["sigma_with_rounding"], rel=0.05)


# --------------------------------------------------------------------------- both


@pytest.mark.parametrize("simulate", [simulate_study1, simulate_study2])
def test_same_seed_same_data_other_seed_other_data(simulate):
    tables_a, truth_a = simulate({}, seed=42)
    tables_b, truth_b = simulate({}, seed=42)
    for name in tables_a:
        pd.testing.assert_frame_equal(tables_a[name], tables_b[name])
    assert truth_a == truth_b
    tables_c, truth_c = simulate({}, seed=43)
    assert not tables_a["sessions"].equals(tables_c["sessions"])
    assert truth_c["seed"] == 43


def test_overrides_reach_data_and_truth():
    tables, truth = simulate_study1(
        {
            "sizes": {"n_therapists": 10, "n_clients": 30, "n_sessions": 90},
            "homework": {"or_unlicensed": 3.0},
        },
        seed=1,
    )
    assert [len(tables[t]) for t in ("therapists", "clients", "sessions")] == [10, 30, 90]
    assert truth["log_odds"]["licensed[True]"] == pytest.approx(-math.log(3.0))
    assert truth["params"]["homework"]["or_caregiver_present"] == 2.0  # the rest keeps its default
    tables, truth = simulate_study2(
        {"sizes": {"n_organisations": 3, "n_therapists": 5, "n_clients": 20, "n_sessions": 100}},
        seed=1,
    )
    assert len(tables["sessions"]) == 100 and tables["therapists"].organisation_id.nunique() == 3
    assert STUDY1_DEFAULTS["homework"]["or_unlicensed"] == 1.8  # defaults are never mutated


@pytest.mark.parametrize("simulate", [simulate_study1, simulate_study2])
def test_unknown_or_bad_parameters_raise(simulate):
    with pytest.raises(ValueError, match="'no_such_section'"):
        simulate({"no_such_section": 1}, seed=0)
    with pytest.raises(ValueError, match="sizes.n_patients"):
        simulate({"sizes": {"n_patients": 5}}, seed=0)
    with pytest.raises(ValueError, match="'sizes' must be a mapping"):
        simulate({"sizes": 5}, seed=0)
    with pytest.raises(ValueError, match="n_sessions"):
        simulate({"sizes": {"n_sessions": 3}}, seed=0)


def test_bad_values_raise_with_the_parameter_named():
    with pytest.raises(ValueError, match="race_ethnicity_shares"):
        simulate_study1({"race_ethnicity_shares": {"white": 0.5}}, seed=0)
    with pytest.raises(ValueError, match="homework.base_rate"):
        simulate_study1({"homework": {"base_rate": 1.2}}, seed=0)
    with pytest.raises(ValueError, match="detection.review_precision"):
        simulate_study2({"detection": {"review_precision": 0.0}}, seed=0)


@pytest.mark.parametrize(
    "simulate, sizes",
    [
        (simulate_study1, {"n_therapists": 15000, "n_clients": 40000, "n_sessions": 100_000}),
        (
            simulate_study2,
            {
                "n_organisations": 80,
                "n_therapists": 5000,
                "n_clients": 25000,
                "n_sessions": 100_000,
            },
        ),
    ],
)
def test_scales_to_large_samples_in_seconds(simulate, sizes):
    start = time.perf_counter()
    tables, _ = simulate({"sizes": sizes}, seed=5)
    assert time.perf_counter() - start < 5
    assert len(tables["sessions"]) == 100_000
    start = time.perf_counter()
    simulate({}, seed=5)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    "study, simulate", [("study1", simulate_study1), ("study2", simulate_study2)]
)
def test_tables_pass_the_workflow_validator(study, simulate):
    from homeworkflow.data.validate import validate_tables

    tables, _ = simulate({}, seed=20240701)
    validated = validate_tables(study, tables)
    assert {name: len(df) for name, df in validated.items()} == {
        name: len(df) for name, df in tables.items()
    }
