"""The analysis chain, written once: a study's input tables -> validated (pseudonymised) clean
tables -> its derived tables (analysis tables, Table 1).

The workflow runs it in two jobs, `cleaned_tables` (rule clean) and `derived_tables` (rule
features), so a user's raw IDs never reach a file past the clean step; the design studies and the
benchmarks run it whole through `analysis_tables`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import pandas as pd

from homeworkflow.data.clean import clean_study1, clean_study2
from homeworkflow.data.descriptives import table1_study1, table1_study2
from homeworkflow.data.features import study1_sessions, study2_intervals, study2_sessions
from homeworkflow.data.privacy import pseudonymise
from homeworkflow.data.validate import load_study, validate_tables

CLEANERS = {"study1": clean_study1, "study2": clean_study2}
OUTCOMES = ("phq9", "gad7")


def cleaned_tables(
    study: str,
    tables: Mapping[str, pd.DataFrame] | None = None,
    *,
    paths: Mapping[str, str | os.PathLike] | None = None,
    missing_codes: Iterable[str] | None = None,
    salt: str | bytes | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Validate a study's tables (given, or read from `paths`), pseudonymise their IDs when a
    `salt` is given, and clean them. Returns (clean tables, flow table). Raises `InputError`."""
    if (tables is None) == (paths is None):
        raise TypeError("give either tables or paths")
    if paths is not None:
        tables = load_study(study, paths, missing_codes=missing_codes)
    else:
        tables = validate_tables(study, tables, missing_codes=missing_codes)
    if salt is not None:
        tables = pseudonymise(tables, study, salt)
    return CLEANERS[study](tables)


def derived_tables(
    study: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    reference_levels: Mapping[str, str] | None = None,
    centre: Iterable[str] = (),
    baseline_centre: Mapping[str, float] | None = None,
    outcomes: Iterable[str] = OUTCOMES,
    min_cell: int | None = None,
) -> dict[str, object]:
    """A clean study's derived tables.

    Study 1: `sessions` (the analysis table; `reference_levels`, `centre`) and `scaling`.
    Study 2: `sessions` and, per outcome in `outcomes`, `intervals_<outcome>` (centred at
    `baseline_centre[outcome]`) with the exclusions in `interval_flow`. With `min_cell`, also
    `table1` (cells under `min_cell` suppressed).
    """
    out: dict[str, object] = {}
    if study == "study1":
        out["sessions"], out["scaling"] = study1_sessions(tables, reference_levels, centre)
    else:
        out["sessions"] = study2_sessions(tables)
        flow = []
        for outcome in outcomes:
            out[f"intervals_{outcome}"], rows = study2_intervals(tables, outcome, centre=baseline_centre[outcome])
            flow.append(pd.DataFrame(rows))
        out["interval_flow"] = flow
    if min_cell is not None:
        out["table1"] = (table1_study1 if study == "study1" else table1_study2)(tables, min_cell=min_cell)
    return out


def analysis_tables(
    study: str, tables: Mapping[str, pd.DataFrame], *, salt: str | bytes | None = None, **derive
) -> tuple[dict[str, object], dict[str, pd.DataFrame]]:
    """The whole chain on in-memory tables (e.g. a simulator's): validate -> (pseudonymise) ->
    clean -> derive. `derive` are `derived_tables`' keywords. Returns (derived, clean tables)."""
    clean, _ = cleaned_tables(study, tables, salt=salt)
    return derived_tables(study, clean, **derive), clean
