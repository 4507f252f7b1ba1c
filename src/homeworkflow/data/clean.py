"""Cleaning after validation: drop units that cannot contribute, and record every step.

Each study's cleaning returns the cleaned tables and a flow table (`FLOW_COLUMNS`) with one row per
step and table, even when a step excludes nothing, so the table documents the whole pipeline and
its numbers chain: within a table, `n_out` of a step is `n_in` of the next. The step names and
reasons live in `CLEANING_STEPS` (also used by the generated documentation).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from homeworkflow.data.validate import member_of

FLOW_COLUMNS = ["step", "table", "n_in", "n_out", "n_excluded", "reason"]

INPUT = ("validated input", "rows that passed validation against the input contract")
CLIENTS_WITHOUT_SESSIONS = ("clients without sessions", "clients", "the client has no recorded session")
THERAPISTS_WITHOUT_CLIENTS = (
    "therapists without clients",
    "therapists",
    "the therapist has no client left (none, or none with a recorded session)",
)
ASSESSMENTS_OF_DROPPED_CLIENTS = (
    "assessments of dropped clients",
    "assessments",
    "the client was dropped as a client without sessions",
)
ORGANISATIONS_WITHOUT_THERAPISTS = (
    "organisations without therapists",
    "organisations",
    "no therapist of the organisation is left",
)
# Per outcome, in features.study2_intervals; "{outcome}" is phq9 or gad7.
INTERVAL_STEPS = {
    "few_assessments": (
        "sessions of clients with fewer than 2 assessments",
        "sessions ({outcome})",
        "with fewer than 2 assessments the client has no interval over which to measure change",
    ),
    "outside": (
        "sessions outside assessment intervals",
        "sessions ({outcome})",
        "the session comes before the client's first assessment or at/after the last one",
    ),
    "intervals": (
        "assessment intervals",
        "intervals ({outcome})",
        "one interval from each assessment to the client's next assessment",
    ),
    "missing_score": (
        "missing score at start or end",
        "intervals ({outcome})",
        "{outcome} is missing at the interval's start or end assessment or at intake, so change or baseline is unknown",
    ),
    "no_sessions": (
        "intervals without sessions",
        "intervals ({outcome})",
        "no transcribed session lies in [start_session, end_session)",
    ),
    "excluded_intervals": (
        "sessions in excluded intervals",
        "sessions ({outcome})",
        "the session lies in an interval excluded for a missing score",
    ),
}

CLEANING_STEPS = {
    "study1": [
        (INPUT[0], "therapists, clients, sessions", INPUT[1]),
        CLIENTS_WITHOUT_SESSIONS,
        THERAPISTS_WITHOUT_CLIENTS,
    ],
    "study2": [
        (INPUT[0], "therapists, clients, sessions, assessments, organisations", INPUT[1]),
        CLIENTS_WITHOUT_SESSIONS,
        ASSESSMENTS_OF_DROPPED_CLIENTS,
        THERAPISTS_WITHOUT_CLIENTS,
        ORGANISATIONS_WITHOUT_THERAPISTS,
    ],
    "study2 intervals, per outcome (features.study2_intervals)": [
        (step, table.format(outcome="<outcome>"), reason.format(outcome="the outcome"))
        for step, table, reason in INTERVAL_STEPS.values()
    ],
}


class Flow:
    """Collects flow rows; `frame()` returns them as a table with FLOW_COLUMNS."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, step: str, table: str, n_in: int, n_out: int, reason: str) -> None:
        self.rows.append(
            {
                "step": step,
                "table": table,
                "n_in": int(n_in),
                "n_out": int(n_out),
                "n_excluded": int(n_in - n_out),
                "reason": reason,
            }
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=FLOW_COLUMNS).astype(
            {"step": "str", "table": "str", "n_in": "int64", "n_out": "int64", "n_excluded": "int64", "reason": "str"}
        )


def clean_study1(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Drop clients without sessions, then therapists without clients; return tables and flow."""
    tables, flow = dict(tables), Flow()
    for name in ("therapists", "clients", "sessions"):
        flow.add(INPUT[0], name, len(tables[name]), len(tables[name]), INPUT[1])
    _drop_childless(tables, flow, CLIENTS_WITHOUT_SESSIONS, "client_id", "sessions")
    _drop_childless(tables, flow, THERAPISTS_WITHOUT_CLIENTS, "therapist_id", "clients")
    return tables, flow.frame()


def clean_study2(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Drop clients without sessions (and their assessments), therapists without clients, and
    note organisations left without therapists; return tables and flow.

    Clients with fewer than two assessments are kept here: their sessions describe the sample;
    `features.study2_intervals` records why they cannot contribute to change.
    """
    tables, flow = dict(tables), Flow()
    for name in ("therapists", "clients", "sessions", "assessments"):
        flow.add(INPUT[0], name, len(tables[name]), len(tables[name]), INPUT[1])
    n_organisations = tables["therapists"]["organisation_id"].nunique()
    flow.add(INPUT[0], "organisations", n_organisations, n_organisations, "distinct organisation_id of therapists")

    _drop_childless(tables, flow, CLIENTS_WITHOUT_SESSIONS, "client_id", "sessions")
    assessments = tables["assessments"]
    kept = member_of(assessments["client_id"], tables["clients"]["client_id"])
    step, table, reason = ASSESSMENTS_OF_DROPPED_CLIENTS
    flow.add(step, table, len(assessments), kept.sum(), reason)
    tables["assessments"] = assessments[kept].reset_index(drop=True)

    _drop_childless(tables, flow, THERAPISTS_WITHOUT_CLIENTS, "therapist_id", "clients")
    step, table, reason = ORGANISATIONS_WITHOUT_THERAPISTS
    flow.add(step, table, n_organisations, tables["therapists"]["organisation_id"].nunique(), reason)
    return tables, flow.frame()


def _drop_childless(
    tables: dict[str, pd.DataFrame], flow: Flow, step: tuple[str, str, str], key: str, child: str
) -> None:
    """Keep rows of the step's table whose `key` occurs in the child table; record the step."""
    name, table, reason = step
    df = tables[table]
    kept = member_of(df[key], tables[child][key])
    flow.add(name, table, len(df), kept.sum(), reason)
    tables[table] = df[kept].reset_index(drop=True)
