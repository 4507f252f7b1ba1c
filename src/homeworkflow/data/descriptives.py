"""Table 1: descriptives at each level of the data (sessions, clients, therapists, organisations)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from homeworkflow.data.contract import STUDY1, STUDY2, Table
from homeworkflow.data.features import join_parents, study2_sessions

TABLE1_COLUMNS = ["level", "variable", "statistic", "value"]
TABLE1_NOTE = """
One row per level (sessions, assessments, clients, therapists, organisations), variable and
statistic: `level, variable, statistic, value` (value a formatted string). Each level has its n
and the number of lower-level units per unit (sessions per client, ...). Yes/no variables: count
and % yes; categorical: count and % per level; numeric: mean (SD) and median [min, max]. % are of
non-missing values; a column with missing values also gets a missing count. Small-cell
suppression: a count below `min_cell` (but above 0) is shown as "<min_cell" without its %; when a
variable has exactly one such count, the next smallest is shown as "suppressed" too (else it
could be recovered by subtraction from n); numeric summaries over fewer than `min_cell` values are
suppressed. Level sizes (n) are not suppressed.
"""
ORDERING_COLUMNS = {"session_number"}  # ordering, not a characteristic of the unit


def table1_study1(tables: Mapping[str, pd.DataFrame], min_cell: int = 11) -> pd.DataFrame:
    """Table 1 of Study 1: sessions, clients and therapists."""
    levels = [(name, tables[name], STUDY1[name]) for name in ("sessions", "clients", "therapists")]
    return _table1(levels, _joined(tables, STUDY1), min_cell)


def table1_study2(tables: Mapping[str, pd.DataFrame], min_cell: int = 11) -> pd.DataFrame:
    """Table 1 of Study 2: sessions (with any AR / any review), assessments, clients (with
    scores at their first assessment), therapists and organisations."""
    sessions = study2_sessions(tables)
    first = tables["assessments"].sort_values(["client_id", "session_number"]).drop_duplicates("client_id")
    clients = tables["clients"].merge(
        first[["client_id", "phq9", "gad7"]].rename(
            columns={"phq9": "phq9 at first assessment", "gad7": "gad7 at first assessment"}
        ),
        on="client_id",
        how="left",
    )
    organisations = pd.DataFrame({"organisation_id": pd.unique(tables["therapists"]["organisation_id"])})
    levels = [
        ("sessions", sessions, STUDY2["sessions"]),
        ("assessments", tables["assessments"], STUDY2["assessments"]),
        ("clients", clients, STUDY2["clients"]),
        ("therapists", tables["therapists"], STUDY2["therapists"]),
        ("organisations", organisations, None),
    ]
    return _table1(levels, _joined(tables, STUDY2), min_cell)


def to_markdown(df: pd.DataFrame) -> str:
    """A Markdown table (for reports)."""
    return df.to_markdown(index=False)


# --------------------------------------------------------------------------------- internals


def _joined(tables: Mapping[str, pd.DataFrame], contract: Mapping[str, Table]) -> dict[str, pd.DataFrame]:
    """Each table with its ancestors' columns attached (so every ancestor's key is present)."""
    return {name: join_parents(tables, contract, name) for name in contract}


def _table1(levels: list, joined: dict[str, pd.DataFrame], min_cell: int) -> pd.DataFrame:
    rows: list[tuple[str, str, str, str]] = []
    for level, df, table in levels:
        rows.append((level, "n", "n", f"{len(df):,}"))
        # Units of lower levels per unit of this one (sessions per client, ...): a joined table
        # carries only its own and its ancestors' keys, so carrying this key means a descendant.
        key = _key(df, table)
        for other, frame in joined.items():
            if key is not None and other != level and key in frame.columns:
                counts = frame[key].value_counts().reindex(df[key], fill_value=0)
                rows += _numeric(level, f"{other} per {level.removesuffix('s')}", counts, min_cell)
        for name in df.columns:
            kind = _kind(df[name], table, name)
            if kind is None or name in ORDERING_COLUMNS:
                continue
            if kind == "bool":
                rows += _counts(level, name, df[name].astype("boolean"), min_cell, bool_only=True)
            elif kind == "category":
                rows += _counts(level, name, df[name], min_cell)
            else:
                rows += _numeric(level, name, df[name], min_cell)
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def _key(df: pd.DataFrame, table: Table | None) -> str | None:
    """The level's unit identifier; None for a composite key (assessments have no children)."""
    if table is not None:
        return table.key[0] if len(table.key) == 1 else None
    return next(c for c in df.columns if c.endswith("_id"))


def _kind(values: pd.Series, table: Table | None, name: str) -> str | None:
    """Contract kind of a column; derived columns by dtype; None for identifiers."""
    if table is not None and name in table.names:
        kind = table.column(name).kind
        return None if kind == "id" else kind
    if name.endswith("_id"):
        return None
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_numeric_dtype(values):
        return "float"
    return "category"


def _counts(level: str, name: str, values: pd.Series, min_cell: int, bool_only: bool = False) -> list:
    """Count (%) per level, or of 'yes' for a yes/no variable, with small-cell suppression."""
    missing = int(values.isna().sum())
    observed = values.dropna()
    counts = observed.value_counts()
    if bool_only:
        counts = counts.reindex([True, False], fill_value=0)
    else:
        counts = counts.reindex(sorted(counts.index, key=str))
    cells = {str(k): int(v) for k, v in counts.items()}
    if missing:
        cells["missing"] = missing
    hidden = _suppressed(cells, min_cell)
    n_observed = len(observed)
    rows = []
    for label, count in cells.items():
        if bool_only and label == "False":
            continue  # shown implicitly: n - yes - missing
        if label == "missing":
            variable, denominator = name, len(values)
            statistic = "missing, n (%)"
        elif bool_only:
            variable, statistic, denominator = name, "yes, n (%)", n_observed
        else:
            variable, statistic, denominator = f"{name}: {label}", "n (%)", n_observed
        if label in hidden:
            value = f"<{min_cell}" if 0 < count < min_cell else "suppressed"
        else:
            value = f"{count:,} ({100 * count / denominator:.1f}%)" if denominator else "0"
        rows.append((level, variable, statistic, value))
    return rows


def _suppressed(cells: dict[str, int], min_cell: int) -> set[str]:
    """Cells to hide: small ones, plus the next smallest when only one is small (else it could
    be recovered from the total)."""
    hidden = {k for k, v in cells.items() if 0 < v < min_cell}
    if len(hidden) == 1:
        others = sorted((v, k) for k, v in cells.items() if k not in hidden and v > 0)
        if others:
            hidden.add(others[0][1])
    return hidden


def _numeric(level: str, name: str, values: pd.Series, min_cell: int) -> list:
    """Mean (SD) and median [min, max]; suppressed when fewer than `min_cell` values."""
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    observed = x.dropna()
    rows = []
    if len(observed) and len(observed) < min_cell:
        rows += [
            (level, name, "mean (SD)", f"<{min_cell} values"),
            (level, name, "median [min, max]", f"<{min_cell} values"),
        ]
    elif len(observed):
        sd = observed.std(ddof=1)
        rows += [
            (
                level,
                name,
                "mean (SD)",
                f"{observed.mean():.2f} ({sd:.2f})" if np.isfinite(sd) else f"{observed.mean():.2f}",
            ),
            (
                level,
                name,
                "median [min, max]",
                f"{_number(observed.median())} [{_number(observed.min())}, {_number(observed.max())}]",
            ),
        ]
    missing = int(x.isna().sum())
    if missing:
        shown = f"<{min_cell}" if missing < min_cell else f"{missing:,} ({100 * missing / len(x):.1f}%)"
        rows.append((level, name, "missing, n (%)", shown))
    return rows


def _number(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"
