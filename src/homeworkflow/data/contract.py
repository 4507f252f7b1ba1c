"""The input contract: every table each study reads, its columns, types, ranges and keys.

Simulators write tables that satisfy it, validation checks users' files against it, and
`config/README.md` documents it. One place, so the three never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["id", "int", "float", "bool", "category"]


@dataclass(frozen=True)
class Column:
    """One column: its kind, allowed range or levels, and whether it may be missing."""

    name: str
    kind: Kind
    description: str
    min: float | None = None
    max: float | None = None
    levels: tuple[str, ...] | None = None
    nullable: bool = False
    required: bool = True


@dataclass(frozen=True)
class Table:
    """One input table: columns, primary key and foreign keys (column -> parent table)."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    parents: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


STUDY1_EBPS = ("MAP", "TF-CBT", "CPP", "Seeking Safety", "Triple P", "CBITS")
STUDY1_RACE_ETHNICITY = ("Hispanic/Latinx", "White", "Asian American", "Black", "Other")

STUDY1 = {
    "therapists": Table(
        "therapists",
        "One row per therapist.",
        (
            Column("therapist_id", "id", "Therapist identifier."),
            Column("licensed", "bool", "Therapist holds a clinical licence."),
            Column("race_ethnicity", "category", "Therapist race/ethnicity."),
            Column("n_ebps_trained", "int", "Number of EBPs the therapist was trained in.", 0, 20),
            Column(
                "emotional_exhaustion",
                "float",
                "Emotional exhaustion (MBI subscale item mean, 0-6).",
                0,
                6,
            ),
            Column(
                "direct_client_hours",
                "float",
                "Direct client hours per week.",
                0,
                80,
            ),
        ),
        key=("therapist_id",),
    ),
    "clients": Table(
        "clients",
        "One row per client (child); each client is seen by one therapist.",
        (
            Column("client_id", "id", "Client identifier."),
            Column("therapist_id", "id", "The client's therapist."),
            Column("child_age", "float", "Child age in years at the session.", 1, 21),
            Column("child_female", "bool", "Child is female.", nullable=True),
            Column("child_latinx", "bool", "Child is Latinx.", nullable=True),
        ),
        key=("client_id",),
        parents={"therapist_id": "therapists"},
    ),
    "sessions": Table(
        "sessions",
        "One row per observed (recorded) session.",
        (
            Column("session_id", "id", "Session identifier."),
            Column("client_id", "id", "The session's client."),
            Column("ebp", "category", "EBP delivered in the session."),
            Column("caregiver_present", "bool", "A caregiver attended the session."),
            Column(
                "ebp_fit",
                "float",
                "Therapist's perceived fit of the EBP delivered (1-5).",
                1,
                5,
            ),
            Column(
                "stressful_event",
                "bool",
                "An unexpected stressful client life event was raised in the session.",
            ),
            Column("homework", "bool", "Homework assigned or reviewed (outcome)."),
        ),
        key=("session_id",),
        parents={"client_id": "clients"},
    ),
}

STUDY2 = {
    "therapists": Table(
        "therapists",
        "One row per therapist, with the organisation they work in.",
        (
            Column("therapist_id", "id", "Therapist identifier."),
            Column("organisation_id", "id", "Organisation (programme) identifier."),
        ),
        key=("therapist_id",),
    ),
    "clients": Table(
        "clients",
        "One row per client; each client is seen by one therapist.",
        (
            Column("client_id", "id", "Client identifier."),
            Column("therapist_id", "id", "The client's therapist."),
        ),
        key=("client_id",),
        parents={"therapist_id": "therapists"},
    ),
    "sessions": Table(
        "sessions",
        "One row per transcribed session, with detected action-recommendation features.",
        (
            Column("session_id", "id", "Session identifier."),
            Column("client_id", "id", "The session's client."),
            Column("session_number", "int", "Order of the session within the client (1, 2, ...).", 1),
            Column("n_units", "int", "Dialogue units (utterances) in the session.", 1),
            Column("ar_count", "int", "Detected action recommendations.", 0, 100),
            Column("review_units", "int", "Detected dialogue units reviewing earlier ARs.", 0),
            Column("review_percentage", "float", "100 x review_units / n_units.", 0, 100),
            Column("ar_true", "int", "True ARs (simulated data only).", 0, 100, required=False),
            Column("review_units_true", "int", "True review units (simulated data only).", 0, required=False),
            Column(
                "review_percentage_true",
                "float",
                "True review percentage (simulated data only).",
                0,
                100,
                required=False,
            ),
        ),
        key=("session_id",),
        parents={"client_id": "clients"},
    ),
    "assessments": Table(
        "assessments",
        "Questionnaires: one row per client and assessment, completed at the start of a session.",
        (
            Column("client_id", "id", "The assessed client."),
            Column("session_number", "int", "Session at whose start the questionnaires were completed.", 1),
            Column("phq9", "int", "PHQ-9 depression total (0-27).", 0, 27, nullable=True),
            Column("gad7", "int", "GAD-7 anxiety total (0-21).", 0, 21, nullable=True),
        ),
        key=("client_id", "session_number"),
        parents={"client_id": "clients"},
    ),
}

STUDIES = {"study1": STUDY1, "study2": STUDY2}

# Standard severity cut-offs: lower bounds of each band.
PHQ9_BANDS = {"minimal": 0, "mild": 5, "moderate": 10, "moderately severe": 15, "severe": 20}
GAD7_BANDS = {"minimal": 0, "mild": 5, "moderate": 10, "severe": 15}
