"""Small valid input tables for both studies (as the text a CSV would hold), a writer, and a
generator of large valid inputs for the speed check.

The Study 2 tables are the hand-made example whose intervals are worked out by hand in
test_features.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _frame(header: str, *rows: str) -> pd.DataFrame:
    names = header.split(",")
    return pd.DataFrame([r.split(",") for r in rows], columns=names, dtype="str")


def study1_frames() -> dict[str, pd.DataFrame]:
    """4 therapists (T4 has no clients; T3's only client has no sessions), 6 clients (C6 has no
    sessions), 12 sessions."""
    therapists = _frame(
        "therapist_id,licensed,race_ethnicity,n_ebps_trained,emotional_exhaustion,direct_client_hours",
        "T1,yes,Hispanic/Latinx,3,2.5,20",
        "T2,no,White,1,4.0,30.5",
        "T3,no,Black,2,1.0,25",
        "T4,yes,Asian American,0,3.0,10",
    )
    clients = _frame(
        "client_id,therapist_id,child_age,child_female,child_latinx",
        "C1,T1,8,yes,yes",
        "C2,T1,12.5,no,NA",
        "C3,T2,6,yes,no",
        "C4,T2,15,no,yes",
        "C5,T2,10,,yes",
        "C6,T3,9,yes,no",
    )
    sessions = _frame(
        "session_id,client_id,ebp,caregiver_present,ebp_fit,stressful_event,homework",
        "S01,C1,MAP,yes,4,no,yes",
        "S02,C1,MAP,no,3.5,no,no",
        "S03,C2,TF-CBT,yes,5,yes,yes",
        "S04,C2,TF-CBT,no,2,no,no",
        "S05,C3,CPP,yes,4,no,no",
        "S06,C3,CPP,yes,4.5,no,yes",
        "S07,C3,MAP,no,3,yes,no",
        "S08,C4,Seeking Safety,no,1,no,no",
        "S09,C4,Seeking Safety,no,2.5,no,yes",
        "S10,C5,MAP,yes,3,no,no",
        "S11,C5,Triple P,yes,4,no,yes",
        "S12,C5,Triple P,yes,5,yes,no",
    )
    return {"therapists": therapists, "clients": clients, "sessions": sessions}


# Study 2 sessions: (client, session_number, review_percentage); n_units 100 so review_units = %.
STUDY2_SESSIONS = [
    ("C1", 1, 10), ("C1", 2, 20), ("C1", 3, 30), ("C1", 4, 40), ("C1", 5, 50), ("C1", 6, 60),
    ("C2", 1, 0), ("C2", 2, 0), ("C2", 3, 30),
    ("C3", 2, 5), ("C3", 3, 15), ("C3", 5, 25),
    ("C4", 1, 0), ("C4", 2, 0),
    ("C5", 1, 0), ("C5", 2, 10), ("C5", 3, 20),
]  # fmt: skip
# Assessments: (client, session_number, phq9, gad7); "" is missing.
STUDY2_ASSESSMENTS = [
    ("C1", 1, "12", "8"), ("C1", 4, "9", ""), ("C1", 7, "5", "4"),
    ("C2", 1, "20", "15"),
    ("C3", 2, "4", "3"), ("C3", 4, "6", "5"), ("C3", 5, "7", "2"),
    ("C5", 2, "15", "10"), ("C5", 3, "10", "12"),
    ("C6", 1, "11", "9"),
]  # fmt: skip


def study2_frames(true_columns: bool = True) -> dict[str, pd.DataFrame]:
    """3 organisations (O3's only therapist T4 has no clients), 6 clients (C6 has no sessions,
    C4 no assessments), 17 sessions, 10 assessments."""
    therapists = _frame("therapist_id,organisation_id", "T1,O1", "T2,O1", "T3,O2", "T4,O3")
    clients = _frame("client_id,therapist_id", "C1,T1", "C2,T1", "C3,T2", "C4,T3", "C5,T3", "C6,T3")
    rows = []
    for i, (client, number, pct) in enumerate(STUDY2_SESSIONS, 1):
        ar = (i % 5) + (0 if i % 7 else -((i % 5)))  # some sessions without ARs
        true = f",{ar + 1},{min(pct + 2, 100)},{min(pct + 2, 100)}" if true_columns else ""
        rows.append(f"S{i:02d},{client},{number},100,{ar},{pct},{pct}{true}")
    header = "session_id,client_id,session_number,n_units,ar_count,review_units,review_percentage"
    if true_columns:
        header += ",ar_true,review_units_true,review_percentage_true"
    sessions = _frame(header, *rows)
    assessments = _frame(
        "client_id,session_number,phq9,gad7", *(f"{c},{n},{p},{g}" for c, n, p, g in STUDY2_ASSESSMENTS)
    )
    return {"therapists": therapists, "clients": clients, "sessions": sessions, "assessments": assessments}


def frames(study: str) -> dict[str, pd.DataFrame]:
    return study1_frames() if study == "study1" else study2_frames()


def write_study(
    directory: Path, tables: dict[str, pd.DataFrame], suffix: str = ".csv", **csv_options
) -> dict[str, Path]:
    """Write each table to directory/<name><suffix>; return the paths dict load_study takes."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in tables.items():
        path = directory / f"{name}{suffix}"
        if suffix == ".parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False, **csv_options)
        paths[name] = path
    return paths


def big_study1(n_sessions: int, seed: int = 1) -> dict[str, pd.DataFrame]:
    """Valid Study 1 tables with `n_sessions` sessions (about 2.5 per client, 27 clients per therapist)."""
    rng = np.random.default_rng(seed)
    n_clients = max(n_sessions * 2 // 5, 1)
    n_therapists = max(n_clients // 27, 1)
    yes_no = np.array(["yes", "no"])
    therapists = pd.DataFrame(
        {
            "therapist_id": _ids("T", n_therapists),
            "licensed": yes_no[rng.integers(0, 2, n_therapists)],
            "race_ethnicity": np.array(["Hispanic/Latinx", "White", "Asian American", "Black", "Other"])[
                rng.integers(0, 5, n_therapists)
            ],
            "n_ebps_trained": rng.integers(0, 7, n_therapists),
            "emotional_exhaustion": rng.uniform(0, 6, n_therapists).round(2),
            "direct_client_hours": rng.uniform(0, 40, n_therapists).round(1),
        }
    )
    clients = pd.DataFrame(
        {
            "client_id": _ids("C", n_clients),
            "therapist_id": _ids("T", n_therapists)[rng.integers(0, n_therapists, n_clients)],
            "child_age": rng.uniform(1, 18, n_clients).round(1),
            "child_female": yes_no[rng.integers(0, 2, n_clients)],
            "child_latinx": yes_no[rng.integers(0, 2, n_clients)],
        }
    )
    sessions = pd.DataFrame(
        {
            "session_id": _ids("S", n_sessions),
            "client_id": _ids("C", n_clients)[rng.integers(0, n_clients, n_sessions)],
            "ebp": np.array(["MAP", "TF-CBT", "CPP", "Seeking Safety", "Triple P", "CBITS"])[
                rng.integers(0, 6, n_sessions)
            ],
            "caregiver_present": yes_no[rng.integers(0, 2, n_sessions)],
            "ebp_fit": rng.uniform(1, 5, n_sessions).round(2),
            "stressful_event": yes_no[rng.integers(0, 2, n_sessions)],
            "homework": yes_no[rng.integers(0, 2, n_sessions)],
        }
    )
    return {"therapists": therapists, "clients": clients, "sessions": sessions}


def big_study2(n_sessions: int, sessions_per_client: int = 10, seed: int = 1) -> dict[str, pd.DataFrame]:
    """Valid Study 2 tables: `n_sessions` sessions, assessments at sessions 1, 4, 7, ... ."""
    rng = np.random.default_rng(seed)
    n_clients = max(n_sessions // sessions_per_client, 1)
    n_therapists = max(n_clients // 5, 1)
    client_ids = _ids("C", n_clients)
    therapists = pd.DataFrame(
        {"therapist_id": _ids("T", n_therapists), "organisation_id": _ids("O", 50)[rng.integers(0, 50, n_therapists)]}
    )
    clients = pd.DataFrame(
        {"client_id": client_ids, "therapist_id": _ids("T", n_therapists)[rng.integers(0, n_therapists, n_clients)]}
    )
    client_of = np.arange(n_sessions) // sessions_per_client % n_clients
    number = np.arange(n_sessions) % sessions_per_client + 1
    n_units = rng.integers(50, 400, n_sessions)
    review_units = rng.binomial(n_units, 0.05)
    sessions = pd.DataFrame(
        {
            "session_id": _ids("S", n_sessions),
            "client_id": client_ids[client_of],
            "session_number": number,
            "n_units": n_units,
            "ar_count": rng.integers(0, 9, n_sessions),
            "review_units": review_units,
            "review_percentage": (100 * review_units / n_units).round(3),
        }
    )
    assessed = sessions[(sessions["session_number"] - 1) % 3 == 0]
    assessments = pd.DataFrame(
        {
            "client_id": assessed["client_id"].to_numpy(),
            "session_number": assessed["session_number"].to_numpy(),
            "phq9": rng.integers(0, 28, len(assessed)).astype(float),
            "gad7": rng.integers(0, 22, len(assessed)).astype(float),
        }
    )
    assessments.loc[rng.random(len(assessments)) < 0.05, "gad7"] = np.nan
    return {"therapists": therapists, "clients": clients, "sessions": sessions, "assessments": assessments}


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(1, n + 1).astype(str)).astype(object)
