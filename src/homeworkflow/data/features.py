"""Analysis tables derived from cleaned (and pseudonymised) input tables.

Study 1: one row per session with client and therapist attributes joined. Study 2: one row per
session, and one row per client and assessment interval with the change in PHQ-9 or GAD-7 and the
mean review percentage of the sessions in between. Joins follow the contract's parent tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from homeworkflow.data.clean import INTERVAL_STEPS, Flow
from homeworkflow.data.contract import GAD7_BANDS, PHQ9_BANDS, STUDY1, STUDY2, Column, Table
from homeworkflow.data.validate import positions_in

STUDY1_OUTCOME = "homework"
BANDS = {"phq9": PHQ9_BANDS, "gad7": GAD7_BANDS}

OUTPUT_COLUMNS = {
    "study1_sessions": {
        "session_id, client_id, therapist_id": "Pseudonymised identifiers.",
        STUDY1_OUTCOME: "Outcome: homework assigned or reviewed, 0/1.",
        "numeric predictors": "Every int/float column of sessions, clients and therapists; those listed in "
        "config `centre` are centred at their session-level grand mean (same name); the mean and SD "
        "of every numeric predictor are saved as the scaling record.",
        "categorical predictors": "Pandas categorical, levels sorted with the configured reference level first.",
        "yes/no predictors": "Boolean (nullable boolean where the contract allows missing values).",
    },
    "study2_sessions": {
        "session_id, client_id, therapist_id, organisation_id": "Pseudonymised identifiers.",
        "session_number": "Order of the session within the client.",
        "n_units": "Dialogue units in the session.",
        "ar_count": "Detected action recommendations.",
        "any_ar": "At least one detected action recommendation (bool).",
        "review_units": "Detected units reviewing earlier action recommendations.",
        "review_percentage": "Detected review percentage (100 x review_units / n_units as supplied).",
        "any_review": "At least one detected review unit (bool).",
        "ar_true, any_ar_true, review_units_true, review_percentage_true, any_review_true": "The same "
        "from the true (simulated) values, present only when the input has them.",
    },
    "study2_intervals": {
        "client_id, therapist_id, organisation_id": "Pseudonymised identifiers.",
        "interval": "1 for the interval from the client's first to second assessment, and so on "
        "(numbered before exclusions, so the numbers agree between outcomes).",
        "start_session, end_session": "Session numbers of the assessments that open and close the interval.",
        "n_sessions": "Transcribed sessions with start_session <= session_number < end_session.",
        "review_percentage": "Mean detected review percentage over those sessions.",
        "review_percentage_true": "Mean true review percentage (simulated data only).",
        "baseline": "The client's intake score (first assessment): initial severity.",
        "start_score": "Score at the interval's start assessment.",
        "baseline_centred": "baseline - the configured centre.",
        "band": "Severity band of the baseline (ordered categorical, standard cut-offs).",
        "change": "Score at the end assessment - score at the start (negative = improvement).",
    },
}


# ------------------------------------------------------------------------------------ Study 1


def study1_sessions(
    tables: Mapping[str, pd.DataFrame],
    reference_levels: Mapping[str, str] | None = None,
    centre: Iterable[str] = (),
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """One row per session with client and therapist attributes, ready for the homework model.

    Returns the table and the scaling record {column: {"mean": ..., "sd": ...}} of every numeric
    predictor (before centring). Raises ValueError for a reference level absent from the data or
    a `centre` column that is not a numeric predictor.
    """
    reference_levels, centre = dict(reference_levels or {}), list(centre)
    df = join_parents(tables, STUDY1, "sessions")
    columns = _columns(STUDY1)
    ids = [c for c in df.columns if columns[c].kind == "id"]
    predictors = [c for c in df.columns if c not in ids and c != STUDY1_OUTCOME]
    numeric = [c for c in predictors if columns[c].kind in ("int", "float")]
    categorical = [c for c in predictors if columns[c].kind == "category"]

    for name in reference_levels:
        if name not in categorical:
            raise ValueError(f"reference level given for '{name}', which is not a categorical column ({categorical})")
    for name in centre:
        if name not in numeric:
            raise ValueError(f"cannot centre '{name}': not a numeric predictor ({numeric})")

    out = {c: df[c] for c in ids}
    out[STUDY1_OUTCOME] = df[STUDY1_OUTCOME].astype("int64")
    scaling = {}
    for name in predictors:
        values = df[name]
        if name in numeric:
            values = values.astype("float64") if name in centre else values
            scaling[name] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1))}
            if name in centre:
                values = values - scaling[name]["mean"]
        elif name in categorical:
            values = _categorical(values, columns[name], reference_levels.get(name))
        out[name] = values
    return pd.DataFrame(out), scaling


def _categorical(values: pd.Series, column: Column, reference: str | None) -> pd.Series:
    """Observed levels (contract order if it lists levels, else sorted), reference level first."""
    observed = set(values.dropna().unique())
    levels = [lv for lv in column.levels if lv in observed] if column.levels else sorted(observed)
    if reference is not None:
        if reference not in observed:
            raise ValueError(
                f"reference level '{reference}' configured for column '{column.name}' does not occur "
                f"in the data; levels present: {levels}"
            )
        levels = [reference] + [lv for lv in levels if lv != reference]
    return pd.Series(pd.Categorical(values, categories=levels), index=values.index, name=column.name)


# ------------------------------------------------------------------------------------ Study 2


def study2_sessions(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per session: identifiers, detected (and, if present, true) AR and review features."""
    df = join_parents(tables, STUDY2, "sessions").sort_values(["client_id", "session_number"], kind="stable")
    order = ["session_id", "client_id", "therapist_id", "organisation_id", "session_number", "n_units"]
    derived = {
        "ar_count": "any_ar",
        "review_units": "any_review",
        "ar_true": "any_ar_true",
        "review_units_true": "any_review_true",
    }
    for count, flag in derived.items():
        if count in df:
            df[flag] = df[count] > 0
    for group in (
        ("ar_count", "any_ar"),
        ("review_units", "review_percentage", "any_review"),
        ("ar_true", "any_ar_true"),
        ("review_units_true", "review_percentage_true", "any_review_true"),
    ):
        order += [c for c in group if c in df]
    return df[order].reset_index(drop=True)


def study2_intervals(
    tables: Mapping[str, pd.DataFrame], outcome: str, centre: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per client and assessment interval with change in `outcome` (phq9 or gad7).

    An interval runs from one assessment to the client's next; its sessions are those with
    start_session <= session_number < end_session (questionnaires are completed at the start of
    a session). `change` is the score at the interval's end minus its start (`start_score`);
    `baseline` is the client's intake score (first assessment), the "initial" severity that
    moderates the effect of review in Spinrad et al., so it is fixed before any change and not
    confounded with the client's own rate of change. Returns the intervals and the flow rows of
    every exclusion (FLOW_COLUMNS).
    """
    if outcome not in BANDS:
        raise ValueError(f"outcome must be one of {sorted(BANDS)}, not {outcome!r}")
    assessments, sessions = tables["assessments"], tables["sessions"]
    codes, clients = pd.factorize(pd.concat([assessments["client_id"], sessions["client_id"]], ignore_index=True))
    a_client, s_client = codes[: len(assessments)], codes[len(assessments) :]
    flow = Flow()

    def record(step: str, n_in: int, n_out: int) -> None:
        name, table, reason = INTERVAL_STEPS[step]
        flow.add(name, table.format(outcome=outcome), n_in, n_out, reason.format(outcome=outcome))

    # Assessments sorted by client and session; consecutive pairs of one client are intervals.
    a_session = assessments["session_number"].to_numpy(dtype="int64")
    a_score = assessments[outcome].to_numpy(dtype="float64", na_value=np.nan)
    order = np.lexsort((a_session, a_client))
    a_client, a_session, a_score = a_client[order], a_session[order], a_score[order]
    first = np.flatnonzero(a_client[1:] == a_client[:-1])  # index of each interval's start assessment
    client = a_client[first]
    start, end = a_session[first], a_session[first + 1]
    start_score, end_score = a_score[first], a_score[first + 1]
    intake_score = a_score[np.searchsorted(a_client, client, side="left")]
    interval = first - np.searchsorted(a_client, client, side="left") + 1

    # Sessions: which client has >= 2 assessments, and which interval holds each session.
    s_session = sessions["session_number"].to_numpy(dtype="int64")
    n_assessments = np.bincount(a_client, minlength=len(clients))
    enough = n_assessments[s_client] >= 2
    record("few_assessments", len(sessions), enough.sum())
    stride = int(max(a_session.max(initial=0), s_session.max(initial=0))) + 1
    interval_key = client.astype("int64") * stride + start
    position = np.searchsorted(interval_key, s_client.astype("int64") * stride + s_session, side="right") - 1
    clipped = np.clip(position, 0, None)
    inside = (
        enough & (position >= 0) & (client[clipped] == s_client) & (s_session < end[clipped])
        if len(first)
        else np.zeros(len(sessions), bool)
    )
    record("outside", enough.sum(), inside.sum())

    n_sessions = np.bincount(position[inside], minlength=len(first))
    means = {}
    for column in ("review_percentage", "review_percentage_true"):
        if column in sessions:
            total = np.bincount(
                position[inside], weights=sessions[column].to_numpy(dtype="float64")[inside], minlength=len(first)
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                means[column] = total / n_sessions

    record("intervals", len(first), len(first))
    scored = ~np.isnan(start_score) & ~np.isnan(end_score) & ~np.isnan(intake_score)
    record("missing_score", len(first), scored.sum())
    kept = scored & (n_sessions > 0)
    record("no_sessions", scored.sum(), kept.sum())
    in_kept = inside.copy()
    in_kept[inside] = kept[position[inside]]
    record("excluded_intervals", inside.sum(), in_kept.sum())

    out = pd.DataFrame({"client_id": pd.Series(clients.take(client[kept]), dtype="str")})
    out = attach_parent(out, tables, STUDY2, "clients", "client_id")[["client_id", "therapist_id", "organisation_id"]]
    out["interval"] = interval[kept].astype("int64")
    out["start_session"] = start[kept]
    out["end_session"] = end[kept]
    out["n_sessions"] = n_sessions[kept].astype("int64")
    for column, values in means.items():
        out[column] = values[kept]
    baseline = intake_score[kept]
    out["baseline"] = baseline.astype("int64")
    out["baseline_centred"] = baseline - float(centre)
    out["band"] = severity_band(baseline, outcome)
    out["start_score"] = start_score[kept].astype("int64")
    out["change"] = (end_score[kept] - start_score[kept]).astype("int64")
    out = out.sort_values(["client_id", "interval"], kind="stable").reset_index(drop=True)
    return out, flow.frame()


def severity_band(scores: Sequence[float] | np.ndarray, outcome: str) -> pd.Categorical:
    """Severity band of each score by the standard cut-offs (ordered categorical, all bands)."""
    bands = BANDS[outcome]
    edges = list(bands.values()) + [np.inf]
    return pd.cut(np.asarray(scores, dtype="float64"), bins=edges, right=False, labels=list(bands), ordered=True)


# ---------------------------------------------------------------------------------- joining


def join_parents(tables: Mapping[str, pd.DataFrame], contract: Mapping[str, Table], name: str) -> pd.DataFrame:
    """Table `name` with the columns of its parent tables (and theirs) attached, row order kept."""
    df = tables[name].reset_index(drop=True)
    for fk, parent in contract[name].parents.items():
        df = attach_parent(df, tables, contract, parent, fk)
    return df


def attach_parent(
    df: pd.DataFrame, tables: Mapping[str, pd.DataFrame], contract: Mapping[str, Table], parent: str, fk: str
) -> pd.DataFrame:
    """Attach the columns of table `parent` (and its parents) to `df` through foreign key `fk`."""
    joined = join_parents(tables, contract, parent)
    (key,) = contract[parent].key
    position = positions_in(df[fk], joined[key])
    if (position < 0).any():
        raise ValueError(f"{(position < 0).sum()} values of {fk} have no row in the {parent} table")
    extra = [c for c in joined.columns if c != key and c not in df.columns]
    attached = joined[extra].take(position).reset_index(drop=True)
    return pd.concat([df.reset_index(drop=True), attached], axis=1)


def _columns(contract: Mapping[str, Table]) -> dict[str, Column]:
    """Every column of a study by name (a foreign key takes its definition from its own table)."""
    columns: dict[str, Column] = {}
    for table in contract.values():
        for column in table.columns:
            columns.setdefault(column.name, column)
    return columns
