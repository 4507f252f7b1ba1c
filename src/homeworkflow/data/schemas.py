"""Column-level checks of the input tables as pandera schemas, generated from the contract
(`data/contract.py`): each column's allowed levels or range, and whether it may be missing.

Validation (`data/validate.py`) first parses the text cells (missing-value codes, decimal commas,
yes/no codes: no schema library reads those) and reports cells that do not parse; the schema then
checks the parsed values, and validation turns its failure cases into the project's message (file,
column, rows, reason). Keys, foreign keys and the rules across columns and tables stay written by
hand in validation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from homeworkflow.data.contract import Column

MISSING_REASON = "missing value, but this column may not be missing"


def range_text(column: Column) -> str:
    fmt = lambda x: f"{x:g}"  # noqa: E731
    if column.min is not None and column.max is not None:
        return f"{fmt(column.min)} to {fmt(column.max)}"
    if column.min is not None:
        return f"at least {fmt(column.min)}"
    return f"at most {fmt(column.max)}"


def value_checks(column: Column) -> list[tuple[pa.Check, str]]:
    """The column's checks of parsed values, each with the reason its failures are reported under."""
    checks = []
    if column.levels is not None and column.kind in ("id", "category"):
        checks.append((pa.Check.isin(list(column.levels)), f"not one of the levels {list(column.levels)}"))
    if column.kind in ("int", "float") and (column.min is not None or column.max is not None):
        if column.min is not None and column.max is not None:
            check = pa.Check.in_range(column.min, column.max)
        elif column.min is not None:
            check = pa.Check.ge(column.min)
        else:
            check = pa.Check.le(column.max)
        checks.append((check, f"outside the allowed range ({range_text(column)})"))
    return checks


def column_schema(column: Column) -> pa.DataFrameSchema:
    """A one-column schema: the value checks, and no missing values unless the column is nullable."""
    checks = [check for check, _ in value_checks(column)]
    return pa.DataFrameSchema({column.name: pa.Column(nullable=column.nullable, checks=checks)})


def failing_rows(column: Column, values: pd.Series, n_rows: int) -> list[tuple[str, np.ndarray]]:
    """(reason, mask over the table's n_rows rows) for every check that `values` fail, value checks
    first, then missing values; `values` is indexed by row position (rows left out are not checked)."""
    try:
        column_schema(column).validate(values.rename(column.name).to_frame(), lazy=True)
        return []
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    reasons = [reason for _, reason in value_checks(column)]
    found = []
    for number, reason in enumerate(reasons):
        rows = cases.loc[cases["check_number"] == number, "index"]
        if len(rows):
            found.append((reason, _mask(rows, n_rows)))
    missing = cases.loc[cases["check"] == "not_nullable", "index"]
    if len(missing):
        found.append((MISSING_REASON, _mask(missing, n_rows)))
    return found


def _mask(rows: pd.Series, n_rows: int) -> np.ndarray:
    mask = np.zeros(n_rows, dtype=bool)
    mask[rows.to_numpy(dtype=np.int64)] = True
    return mask
