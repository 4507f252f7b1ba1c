"""Cleaning flows, analysis tables and Table 1 on the small hand-made fixtures, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures_tables import study1_frames, study2_frames, write_study

from homeworkflow.data.clean import FLOW_COLUMNS, clean_study1, clean_study2
from homeworkflow.data.descriptives import TABLE1_COLUMNS, table1_study1, table1_study2, to_markdown
from homeworkflow.data.features import study1_sessions, study2_intervals, study2_sessions
from homeworkflow.data.privacy import pseudonymise
from homeworkflow.data.validate import load_study, validate_tables


@pytest.fixture
def study1(tmp_path):
    return load_study("study1", write_study(tmp_path, study1_frames()))


@pytest.fixture
def study2(tmp_path):
    return load_study("study2", write_study(tmp_path, study2_frames()))


def assert_chained(flow: pd.DataFrame) -> None:
    """Within each table, n_out of a step is n_in of the next; n_excluded = n_in - n_out."""
    assert list(flow.columns) == FLOW_COLUMNS
    assert (flow["n_excluded"] == flow["n_in"] - flow["n_out"]).all()
    for _, steps in flow.groupby("table", sort=False):
        assert (steps["n_in"].to_numpy()[1:] == steps["n_out"].to_numpy()[:-1]).all(), steps


def counts(flow: pd.DataFrame) -> list[tuple[str, str, int, int]]:
    return list(flow[["step", "table", "n_in", "n_out"]].itertuples(index=False, name=None))


# ---------------------------------------------------------------------------------- cleaning


def test_clean_study1_flow(study1):
    tables, flow = clean_study1(study1)
    assert counts(flow) == [
        ("validated input", "therapists", 4, 4),
        ("validated input", "clients", 6, 6),
        ("validated input", "sessions", 12, 12),
        ("clients without sessions", "clients", 6, 5),  # C6
        ("therapists without clients", "therapists", 4, 2),  # T3 (only C6) and T4 (none)
    ]
    assert_chained(flow)
    assert sorted(tables["therapists"]["therapist_id"]) == ["T1", "T2"]
    assert "C6" not in set(tables["clients"]["client_id"])
    assert len(study1["clients"]) == 6  # input not modified


def test_clean_study2_flow(study2):
    tables, flow = clean_study2(study2)
    assert counts(flow) == [
        ("validated input", "therapists", 4, 4),
        ("validated input", "clients", 6, 6),
        ("validated input", "sessions", 17, 17),
        ("validated input", "assessments", 10, 10),
        ("validated input", "organisations", 3, 3),
        ("clients without sessions", "clients", 6, 5),  # C6
        ("assessments of dropped clients", "assessments", 10, 9),  # C6's
        ("therapists without clients", "therapists", 4, 3),  # T4
        ("organisations without therapists", "organisations", 3, 2),  # O3
    ]
    assert_chained(flow)
    assert set(tables["assessments"]["client_id"]) == {"C1", "C2", "C3", "C5"}


# ---------------------------------------------------------------------------------- Study 2


def test_study2_sessions(study2):
    df = study2_sessions(clean_study2(study2)[0])
    assert list(df.columns[:11]) == [
        "session_id", "client_id", "therapist_id", "organisation_id", "session_number", "n_units",
        "ar_count", "any_ar", "review_units", "review_percentage", "any_review",
    ]  # fmt: skip
    assert {"ar_true", "any_ar_true", "review_units_true", "review_percentage_true", "any_review_true"} <= set(df)
    assert len(df) == 17
    assert (df["any_ar"] == (df["ar_count"] > 0)).all() and df["any_ar"].dtype == bool
    assert (df["any_review"] == (df["review_units"] > 0)).all()
    assert df.loc[df["client_id"] == "C3", "organisation_id"].eq("O1").all()
    assert df.loc[df["client_id"] == "C5", "therapist_id"].eq("T3").all()


def test_study2_sessions_without_true_columns(tmp_path):
    tables = load_study("study2", write_study(tmp_path, study2_frames(true_columns=False)))
    df = study2_sessions(tables)
    assert not [c for c in df.columns if c.endswith("_true")]


def test_phq9_intervals_by_hand(study2):
    tables, clean_flow = clean_study2(study2)
    df, flow = study2_intervals(tables, "phq9", centre=10)
    # C1: assessments at 1, 4, 7 -> [1,4) sessions 1-3 (10, 20, 30 %), [4,7) sessions 4-6 (40-60 %)
    # C3: assessments at 2, 4, 5 -> [2,4) sessions 2-3 (5, 15 %); [4,5) has no session (4 absent)
    # C5: assessments at 2, 3 -> [2,3) session 2 (10 %); session 1 before, session 3 at the last
    expected = pd.DataFrame(
        {
            "client_id": ["C1", "C1", "C3", "C5"],
            "therapist_id": ["T1", "T1", "T2", "T3"],
            "organisation_id": ["O1", "O1", "O1", "O2"],
            "interval": [1, 2, 1, 1],
            "start_session": [1, 4, 2, 2],
            "end_session": [4, 7, 4, 3],
            "n_sessions": [3, 3, 2, 1],
            "review_percentage": [20.0, 50.0, 10.0, 10.0],
            "review_percentage_true": [22.0, 52.0, 12.0, 12.0],
            "baseline": [12, 12, 4, 15],  # the client's intake score
            "baseline_centred": [2.0, 2.0, -6.0, 5.0],
            "start_score": [12, 9, 4, 15],
            "change": [9 - 12, 5 - 9, 6 - 4, 10 - 15],
        }
    )
    pd.testing.assert_frame_equal(df.drop(columns="band"), expected, check_dtype=False)
    assert df["band"].tolist() == ["moderate", "moderate", "minimal", "moderately severe"]
    assert df["band"].cat.ordered and list(df["band"].cat.categories) == [
        "minimal", "mild", "moderate", "moderately severe", "severe",
    ]  # fmt: skip
    assert counts(flow) == [
        ("sessions of clients with fewer than 2 assessments", "sessions (phq9)", 17, 12),  # C2 (1), C4 (0)
        ("sessions outside assessment intervals", "sessions (phq9)", 12, 9),  # C3 s5, C5 s1 and s3
        ("assessment intervals", "intervals (phq9)", 5, 5),
        ("missing score at start or end", "intervals (phq9)", 5, 5),
        ("intervals without sessions", "intervals (phq9)", 5, 4),  # C3 [4,5)
        ("sessions in excluded intervals", "sessions (phq9)", 9, 9),
    ]
    assert_chained(flow)
    # The interval flow picks up where cleaning left the sessions.
    sessions_out = clean_flow.loc[clean_flow["table"] == "sessions", "n_out"].iloc[-1]
    assert flow["n_in"].iloc[0] == sessions_out


def test_gad7_intervals_exclude_missing_scores_per_outcome(study2):
    df, flow = study2_intervals(clean_study2(study2)[0], "gad7", centre=7.5)
    # C1's gad7 is missing at session 4, so both of C1's intervals go; numbering is kept.
    assert df[["client_id", "interval", "baseline", "change", "n_sessions"]].values.tolist() == [
        ["C3", 1, 3, 2, 2],
        ["C5", 1, 10, 2, 1],
    ]
    assert df["baseline_centred"].tolist() == [-4.5, 2.5]
    assert df["band"].tolist() == ["minimal", "moderate"]
    assert list(df["band"].cat.categories) == ["minimal", "mild", "moderate", "severe"]
    assert counts(flow)[3:] == [
        ("missing score at start or end", "intervals (gad7)", 5, 3),
        ("intervals without sessions", "intervals (gad7)", 3, 2),
        ("sessions in excluded intervals", "sessions (gad7)", 9, 3),
    ]
    assert_chained(flow)


def test_intervals_reject_unknown_outcome(study2):
    with pytest.raises(ValueError, match="outcome"):
        study2_intervals(study2, "bdi", 10)


def test_pipeline_leaves_no_raw_id_in_derived_tables(study1, study2):
    raw = {"T1", "T2", "T3", "T4", "C1", "C2", "C3", "C4", "C5", "C6", "O1", "O2", "O3"}
    raw |= set(study1["sessions"]["session_id"]) | set(study2["sessions"]["session_id"])
    s1 = clean_study1(pseudonymise(study1, "study1", "k"))[0]
    s2 = clean_study2(pseudonymise(study2, "study2", "k"))[0]
    derived = [
        study1_sessions(s1)[0],
        study2_sessions(s2),
        study2_intervals(s2, "phq9", 10)[0],
        study2_intervals(s2, "gad7", 7)[0],
        table1_study1(s1, min_cell=1),
        table1_study2(s2, min_cell=1),
    ]
    for df in derived:
        assert not set(df.astype("str").to_numpy().ravel()) & raw


# ---------------------------------------------------------------------------------- Study 1


def test_study1_sessions_join_centre_and_levels(study1):
    tables = clean_study1(study1)[0]
    df, scaling = study1_sessions(tables, {"ebp": "TF-CBT", "race_ethnicity": "White"}, ["child_age", "ebp_fit"])
    assert len(df) == 12 and list(df.columns[:4]) == ["session_id", "client_id", "therapist_id", "homework"]
    assert df["homework"].dtype == "int64" and df["homework"].sum() == 5
    row = df.set_index("session_id").loc["S05"]  # client C3 (age 6), therapist T2 (unlicensed, White)
    assert row["client_id"] == "C3" and row["therapist_id"] == "T2"
    assert not row["licensed"] and row["race_ethnicity"] == "White"
    # Session-level grand mean: ages of the clients of the 12 sessions.
    ages = [8, 8, 12.5, 12.5, 6, 6, 6, 15, 15, 10, 10, 10]
    assert scaling["child_age"]["mean"] == pytest.approx(np.mean(ages))
    assert scaling["child_age"]["sd"] == pytest.approx(np.std(ages, ddof=1))
    assert df["child_age"].mean() == pytest.approx(0)
    assert row["child_age"] == pytest.approx(6 - np.mean(ages))
    assert set(scaling) == {"ebp_fit", "child_age", "n_ebps_trained", "emotional_exhaustion", "direct_client_hours"}
    assert df["n_ebps_trained"].tolist()[:2] == [3, 3]  # not in `centre`: unchanged
    assert list(df["ebp"].cat.categories) == ["TF-CBT", "CPP", "MAP", "Seeking Safety", "Triple P"]
    assert list(df["race_ethnicity"].cat.categories) == ["White", "Hispanic/Latinx"]
    assert df["caregiver_present"].dtype == bool
    assert str(df["child_female"].dtype) == "boolean"


def test_study1_reference_level_must_occur(study1):
    with pytest.raises(ValueError, match="'CBITS'.*column 'ebp'"):
        study1_sessions(study1, {"ebp": "CBITS"}, [])


def test_study1_rejects_unknown_centre_and_reference_columns(study1):
    with pytest.raises(ValueError, match="cannot centre 'licensed'"):
        study1_sessions(study1, {}, ["licensed"])
    with pytest.raises(ValueError, match="'child_age', which is not a categorical"):
        study1_sessions(study1, {"child_age": "8"}, [])


# ---------------------------------------------------------------------------------- Table 1


def value(table: pd.DataFrame, level: str, variable: str, statistic: str) -> str:
    hit = table[(table["level"] == level) & (table["variable"] == variable) & (table["statistic"] == statistic)]
    assert len(hit) == 1, (level, variable, statistic)
    return hit["value"].iloc[0]


def test_table1_study1_counts_and_suppression(study1):
    tables = clean_study1(study1)[0]
    shown = table1_study1(tables, min_cell=1)
    assert list(shown.columns) == TABLE1_COLUMNS
    assert value(shown, "sessions", "n", "n") == "12"
    assert value(shown, "sessions", "homework", "yes, n (%)") == "5 (41.7%)"
    assert value(shown, "sessions", "ebp: MAP", "n (%)") == "4 (33.3%)"
    assert value(shown, "clients", "child_female", "missing, n (%)") == "1 (20.0%)"
    assert value(shown, "clients", "child_female", "yes, n (%)") == "2 (50.0%)"  # of non-missing
    assert value(shown, "clients", "sessions per client", "median [min, max]") == "2 [2, 3]"
    assert value(shown, "therapists", "sessions per therapist", "mean (SD)") == "6.00 (2.83)"  # T1 4, T2 8
    assert value(shown, "therapists", "licensed", "yes, n (%)") == "1 (50.0%)"
    hidden = table1_study1(tables)  # default min_cell 11: every count here is small
    assert value(hidden, "sessions", "homework", "yes, n (%)") == "<11"
    assert value(hidden, "sessions", "ebp: MAP", "n (%)") == "<11"
    assert value(hidden, "sessions", "n", "n") == "12"  # level sizes are not cells
    assert value(table1_study1(tables, min_cell=5), "sessions", "homework", "yes, n (%)") == "5 (41.7%)"
    assert "%" not in value(hidden, "clients", "child_female", "missing, n (%)")


def test_table1_secondary_suppression():
    """One small cell could be recovered from n minus the others: the next smallest goes too."""
    n = 30
    ebp = ["MAP"] * 15 + ["CPP"] * 3 + ["TF-CBT"] * 12
    homework = ["yes"] * 28 + ["no"] * 2  # 2 'no' would follow from n - yes
    therapists = pd.DataFrame(
        {
            "therapist_id": ["T1"],
            "licensed": ["yes"],
            "race_ethnicity": ["White"],
            "n_ebps_trained": ["2"],
            "emotional_exhaustion": ["1"],
            "direct_client_hours": ["20"],
        }
    )
    clients = pd.DataFrame(
        {
            "client_id": ["C1"],
            "therapist_id": ["T1"],
            "child_age": ["9"],
            "child_female": ["yes"],
            "child_latinx": ["no"],
        }
    )
    sessions = pd.DataFrame(
        {"session_id": [f"S{i}" for i in range(n)], "client_id": "C1", "ebp": ebp, "caregiver_present": "yes",
         "ebp_fit": "3", "stressful_event": "no", "homework": homework}
    )  # fmt: skip
    tables = validate_tables("study1", {"therapists": therapists, "clients": clients, "sessions": sessions})
    table = table1_study1(tables, min_cell=5)
    assert value(table, "sessions", "ebp: CPP", "n (%)") == "<5"
    assert value(table, "sessions", "ebp: TF-CBT", "n (%)") == "suppressed"
    assert value(table, "sessions", "ebp: MAP", "n (%)") == "15 (50.0%)"
    assert value(table, "sessions", "homework", "yes, n (%)") == "suppressed"
    assert value(table, "sessions", "caregiver_present", "yes, n (%)") == "30 (100.0%)"


def test_table1_study2_levels(study2):
    tables = clean_study2(study2)[0]
    table = table1_study2(tables, min_cell=1)
    assert list(dict.fromkeys(table["level"])) == ["sessions", "assessments", "clients", "therapists", "organisations"]
    assert value(table, "organisations", "n", "n") == "2"
    assert value(table, "organisations", "therapists per organisation", "median [min, max]") == "1.50 [1, 2]"
    assert value(table, "clients", "assessments per client", "median [min, max]") == "2 [0, 3]"
    assert value(table, "clients", "phq9 at first assessment", "median [min, max]") == "13.50 [4, 20]"
    assert value(table, "sessions", "any_review", "yes, n (%)") == "12 (70.6%)"
    assert value(table, "assessments", "gad7", "missing, n (%)") == "1 (11.1%)"
    markdown = to_markdown(table)
    assert markdown.splitlines()[0].startswith("| level")
    assert "| organisations" in markdown
