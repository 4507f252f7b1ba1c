"""Check a study's input tables against the input contract before anything is derived from them.

Everything is driven by `contract.py`: which tables and columns exist, their kinds, ranges,
nullability, keys and parent tables. Cells are parsed from text here; each column's levels, range
and missing values are then checked by a pandera schema generated from the contract
(`data/schemas.py`). A few rules the per-column contract cannot express (keys, parent tables, one
column bounded by another, a second unique key, a soft link between tables) are written by hand
below (`ROW_RULES`, `UNIQUE_TOGETHER`, `SOFT_LINKS`), as vectorised pandas and Arrow operations.

A problem is reported with the file, the column, the offending data rows (1-based, counting data
rows below the header, first five and the total) and the reason; all problems of a stage are
collected into one `InputError`, so a user fixes a file in one pass, not one error per run.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from homeworkflow.data.contract import STUDIES, Column, Table
from homeworkflow.data.schemas import MISSING_REASON, failing_rows
from homeworkflow.util.io import EmptyTableError, read_table

log = logging.getLogger(__name__)

DEFAULT_MISSING_CODES = ("", "NA", "N/A", "NaN", "nan", ".", "-99", "-999", "null", "NULL", "missing")
TRUE_CODES = ("yes", "y", "true", "t", "1", "1.0")
FALSE_CODES = ("no", "n", "false", "f", "0", "0.0")
MAX_ROWS_SHOWN = 5
PERCENTAGE_TOLERANCE = 1.0  # percentage points between a stated and a recomputed percentage

# Row rules: (column, bound) means column <= bound in every row of the table (error).
ROW_RULES: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "study2": {"sessions": (("review_units", "n_units"), ("review_units_true", "n_units"))},
}
# Further unique keys besides the contract's primary key (error).
UNIQUE_TOGETHER: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "study2": {"sessions": (("client_id", "session_number"),)},
}
# Soft links: rows of a table that should match a row of another table on these columns.
# An assessment whose session is absent from the sessions table (a questionnaire at an
# untranscribed session, or a final one after the last session) still bounds an assessment
# interval, so it is kept and reported as a warning, not an error.
SOFT_LINKS: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "study2": (("assessments", ("client_id", "session_number"), "sessions"),),
}
# Percentages that should equal 100 x units / total within PERCENTAGE_TOLERANCE (warning).
PERCENTAGE_RULES: dict[str, dict[str, tuple[tuple[str, str, str], ...]]] = {
    "study2": {
        "sessions": (
            ("review_percentage", "review_units", "n_units"),
            ("review_percentage_true", "review_units_true", "n_units"),
        )
    },
}


@dataclass(frozen=True)
class Problem:
    """One finding: where (file, column, 1-based data rows) and why."""

    file: str
    reason: str
    columns: tuple[str, ...] = ()
    rows: np.ndarray | None = None  # 1-based data row numbers, sorted

    def __str__(self) -> str:
        parts = [self.file]
        if self.columns:
            quoted = ", ".join(f"'{c}'" for c in self.columns)
            parts.append(f"column {quoted}" if len(self.columns) == 1 else f"columns {quoted}")
        if self.rows is not None and len(self.rows):
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = ", ..." if len(self.rows) > MAX_ROWS_SHOWN else ""
            word = "data row" if len(self.rows) == 1 else "data rows"
            total = f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''} in total"
            parts.append(f"{word} {shown}{more} ({total})")
        return ": ".join([", ".join(parts), self.reason])


class InputError(ValueError):
    """Input tables that break the contract; the message lists every problem found."""

    def __init__(self, problems: Iterable[Problem] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            message = f"{len(lines)} problems in the input tables:\n- " + "\n- ".join(lines)
        super().__init__(message)


@dataclass(frozen=True)
class MissingCodes:
    """Cell values that mean 'missing': compared as text (case-insensitive) and, in numeric
    columns, as numbers (so '-99.0' is missing when '-99' is a code)."""

    text: frozenset[str]
    numbers: frozenset[float]

    @classmethod
    def from_codes(cls, codes: Iterable[str] | None) -> MissingCodes:
        codes = [str(c).strip() for c in (DEFAULT_MISSING_CODES if codes is None else codes)]
        text = frozenset(c.lower() for c in codes) | {""}
        numbers = set()
        for code in codes:
            try:
                value = float(code)
            except ValueError:
                continue
            if np.isfinite(value):
                numbers.add(value)
        return cls(text, frozenset(numbers))


def load_study(
    study: str,
    paths: Mapping[str, str | os.PathLike],
    missing_codes: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read and validate one study's input files; return typed tables (contract columns only).

    `paths` maps each table of the study's contract to a CSV or Parquet file. `missing_codes`
    replaces `DEFAULT_MISSING_CODES` (an empty cell is always missing). Raises `InputError`.
    """
    contract = _contract(study)
    _check_table_names(study, contract, paths)
    frames, problems = {}, []
    for name in contract:
        source = str(paths[name])
        try:
            frames[name] = read_table(paths[name], as_text=True)
        except FileNotFoundError:
            problems.append(Problem(source, f"file not found (the {study} '{name}' table)"))
        except EmptyTableError as error:
            problems.append(Problem(source, error.reason))
        except (ValueError, UnicodeError, pd.errors.ParserError) as error:
            problems.append(Problem(source, f"cannot be read as a table: {error}"))
    if problems:
        raise InputError(problems)
    return validate_tables(study, frames, {name: str(p) for name, p in paths.items()}, missing_codes)


def validate_tables(
    study: str,
    frames: Mapping[str, pd.DataFrame],
    sources: Mapping[str, str] | None = None,
    missing_codes: Iterable[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Validate already-read tables (text or typed cells) against the contract; return typed tables.

    `sources` names each table's file in messages (default: "<name> table").
    """
    contract = _contract(study)
    _check_table_names(study, contract, frames)
    sources = {name: (sources or {}).get(name, f"{name} table") for name in contract}
    codes = MissingCodes.from_codes(missing_codes)

    typed, problems = {}, []
    for name, table in contract.items():
        typed[name], found = _parse_table(frames[name], table, sources[name], codes)
        problems += found
    if problems:
        raise InputError(problems)

    problems = _check_relations(study, contract, typed, sources)
    if problems:
        raise InputError(problems)
    return typed


# ----------------------------------------------------------------------------- stage 1: cells


def _parse_table(
    df: pd.DataFrame, table: Table, source: str, codes: MissingCodes
) -> tuple[pd.DataFrame, list[Problem]]:
    """Check column names, then parse every contract column to its kind."""
    if len(df) == 0:
        return df, [Problem(source, "the table has no data rows")]
    df = df.rename(columns=lambda c: str(c).strip().lstrip("\ufeff"))
    problems = _check_column_names(list(df.columns), table, source)
    decimal_comma = df.attrs.get("delimiter") == ";"
    parsed = {}
    for column in table.columns:
        if column.name in df.columns:
            parsed[column.name], found = _parse_column(df[column.name], column, source, codes, decimal_comma)
            problems += found
    return pd.DataFrame(parsed).reset_index(drop=True), problems


def _check_column_names(present: list[str], table: Table, source: str) -> list[Problem]:
    known = set(table.names)
    unknown = [c for c in present if c not in known]
    problems = []
    for column in table.columns:
        if column.required and column.name not in present:
            reason = f"required column '{column.name}' is missing"
            hint = _near_miss(column.name, unknown)
            if hint:
                reason += f" (the file has '{hint}': did you mean '{column.name}'?)"
            problems.append(Problem(source, reason, (column.name,)))
    if unknown:
        log.warning(
            "%s: unknown column(s) %s are not in the input contract and are dropped",
            source,
            ", ".join(f"'{c}'" for c in unknown),
        )
    return problems


def _near_miss(name: str, candidates: list[str]) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _parse_column(
    raw: pd.Series, column: Column, source: str, codes: MissingCodes, decimal_comma: bool
) -> tuple[pd.Series, list[Problem]]:
    """Convert one column's cells to its contract kind, reporting cells that do not parse; the
    parsed cells then go through the column's schema (levels, range, missing values)."""
    text = raw if isinstance(raw.dtype, pd.StringDtype) else raw.astype("str")
    text = text.str.strip()
    missing = np.array(text.isna() | text.str.lower().isin(codes.text), dtype=bool)
    where = (column.name,)
    problems: list[Problem] = []
    unparsed = np.zeros(len(text), dtype=bool)  # cells reported as not parsing: not checked again

    def report(mask: np.ndarray, reason: str, hint: str = "", show: pd.Series = text) -> None:
        if mask.any():
            examples = ", ".join(repr(v) for v in pd.unique(show[mask].head(50))[:3])
            problems.append(Problem(source, f"{reason} (found {examples}){hint}", where, np.flatnonzero(mask) + 1))

    if column.kind in ("id", "category"):
        values = checked = text.mask(missing)
    elif column.kind in ("int", "float"):
        numbers = _to_numbers(text.mask(missing), decimal_comma)
        if decimal_comma and (n_comma := int(text.str.contains(",", regex=False).fillna(False).sum())):
            log.info("%s, column '%s': %d decimal comma(s) read as decimal point(s)", source, column.name, n_comma)
        missing |= np.isin(numbers, list(codes.numbers))
        cell = ~missing
        not_number = cell & np.isnan(numbers)
        report(not_number, "not a number")
        report(cell & np.isinf(numbers), "not a finite number")
        unparsed = not_number | (cell & np.isinf(numbers))
        if column.kind == "int":
            ok = cell & np.isfinite(numbers)
            report(ok & (numbers != np.round(numbers)), "not a whole number")
        numbers[missing] = np.nan
        values = checked = pd.Series(numbers, index=raw.index)
    elif column.kind == "bool":
        lowered = text.str.lower()
        is_true = lowered.isin(TRUE_CODES).to_numpy()
        recognised = is_true | lowered.isin(FALSE_CODES).to_numpy()
        unparsed = ~missing & ~recognised
        report(unparsed, "not a recognised yes/no code", "; use yes/no, y/n, true/false, t/f or 1/0")
        values = pd.Series(is_true, index=raw.index)
        checked = values.astype("boolean").mask(missing)
        if column.nullable:
            values = checked
    else:  # pragma: no cover - the contract's Kind literal has no other values
        raise ValueError(f"unknown column kind {column.kind!r}")

    parsed = checked.reset_index(drop=True)[~unparsed]
    for reason, mask in failing_rows(column, parsed, len(text)):
        report(mask, reason, show=raw.astype("str") if reason == MISSING_REASON else text)
    if column.nullable and missing.all():
        problems.append(Problem(source, "all values are missing; the column needs at least one value", where))
    elif column.nullable and (n_missing := int(missing.sum())):
        log.info("%s, column '%s': %d cell%s read as missing", source, column.name, n_missing, "s" * (n_missing != 1))
    if column.kind == "int" and not problems:
        values = values.astype("Int64" if column.nullable else "int64")
    return values.rename(column.name), problems


def _to_numbers(text: pd.Series, decimal_comma: bool) -> np.ndarray:
    """Text to float64 (NaN where a cell is not a number); fast path through Arrow."""
    try:
        return pc.cast(pa.array(text), pa.float64()).to_numpy(zero_copy_only=False).copy()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan).copy()
    if decimal_comma:  # "3,5" in a semicolon-delimited file written by a European spreadsheet
        retry = np.isnan(numbers) & text.str.fullmatch(r"[+-]?\d+,\d+").fillna(False).to_numpy(dtype=bool)
        if retry.any():
            numbers[retry] = pd.to_numeric(text[retry].str.replace(",", ".", regex=False)).to_numpy(dtype=float)
    return numbers


# ------------------------------------------------------------------------- stage 2: relations


def _check_relations(
    study: str, contract: Mapping[str, Table], tables: Mapping[str, pd.DataFrame], sources: Mapping[str, str]
) -> list[Problem]:
    """Keys, foreign keys and cross-column rules; soft links and percentages only warn."""
    problems = []
    for name, table in contract.items():
        df, source = tables[name], sources[name]
        problems += _check_key(df, table, source)
        for columns in UNIQUE_TOGETHER.get(study, {}).get(name, ()):
            duplicated = df.duplicated(list(columns), keep=False).to_numpy()
            if duplicated.any():
                reason = f"more than one row with the same {' and '.join(columns)} (these must be unique together)"
                problems.append(Problem(source, reason, columns, np.flatnonzero(duplicated) + 1))
        for fk, parent in table.parents.items():
            parent_key = contract[parent].key[0]
            orphan = ~member_of(df[fk], tables[parent][parent_key])
            if orphan.any():
                examples = ", ".join(repr(v) for v in pd.unique(df[fk][orphan])[:3])
                reason = f"{fk} not found in the {parent} table {sources[parent]} (found {examples})"
                problems.append(Problem(source, reason, (fk,), np.flatnonzero(orphan) + 1))
        for column, bound in ROW_RULES.get(study, {}).get(name, ()):
            if column in df and bound in df:
                above = (df[column] > df[bound]).fillna(False).to_numpy(dtype=bool)
                if above.any():
                    first = np.flatnonzero(above)[0]
                    reason = (
                        f"{column} is greater than {bound} in the same row "
                        f"(e.g. {df[column].iloc[first]} > {df[bound].iloc[first]})"
                    )
                    problems.append(Problem(source, reason, (column,), np.flatnonzero(above) + 1))
        for percentage, part, whole in PERCENTAGE_RULES.get(study, {}).get(name, ()):
            if {percentage, part, whole} <= set(df.columns):
                recomputed = 100 * df[part].astype(float) / df[whole].astype(float)
                off = ((df[percentage] - recomputed).abs() > PERCENTAGE_TOLERANCE).fillna(False).to_numpy(dtype=bool)
                if off.any():
                    reason = (
                        f"{percentage} differs from 100 x {part} / {whole} by more than "
                        f"{PERCENTAGE_TOLERANCE:g} percentage point; the stated {percentage} is used"
                    )
                    log.warning("%s", Problem(source, reason, (percentage,), np.flatnonzero(off) + 1))
    for name, columns, other in SOFT_LINKS.get(study, ()):
        df = tables[name]
        child, parent = composite_codes([df, tables[other]], columns)
        linked = np.isin(child, parent)
        if not linked.all():
            reason = (
                f"no row in the {other} table {sources[other]} has this {' and '.join(columns)}; "
                f"kept (it still marks the boundary of an assessment interval)"
            )
            log.warning("%s", Problem(sources[name], reason, columns, np.flatnonzero(~linked) + 1))
    return problems


def _check_key(df: pd.DataFrame, table: Table, source: str) -> list[Problem]:
    """Duplicate keys; a duplicated key whose rows disagree on a parent is named as such."""
    key = list(table.key)
    duplicated = df.duplicated(key, keep=False).to_numpy()
    if not duplicated.any():
        return []
    problems = []
    conflicting = np.zeros(len(df), dtype=bool)
    unit = table.name.removesuffix("s")
    for fk, parent in table.parents.items():
        if fk in key:
            continue
        n_values = df[duplicated].groupby(key, sort=False)[fk].transform("nunique").to_numpy()
        here = np.zeros(len(df), dtype=bool)
        here[np.flatnonzero(duplicated)[n_values > 1]] = True
        if here.any():
            reason = (
                f"the same {' and '.join(key)} is recorded under different {fk} values "
                f"(each {unit} belongs to one {parent.removesuffix('s')})"
            )
            problems.append(Problem(source, reason, tuple(key), np.flatnonzero(here) + 1))
            conflicting |= here
    rest = duplicated & ~conflicting
    if rest.any():
        problems.append(
            Problem(source, f"duplicate key: {' and '.join(key)} must be unique", tuple(key), np.flatnonzero(rest) + 1)
        )
    return problems


# ----------------------------------------------------------------------- vectorised lookups


def member_of(values: pd.Series, allowed: pd.Series | pd.Index) -> np.ndarray:
    """`values.isin(allowed)` as a bool array, fast for large text columns (pandas' own isin
    on Arrow strings converts `allowed` one value at a time)."""
    found = pc.is_in(pa.array(values, from_pandas=True), value_set=pc.unique(pa.array(allowed, from_pandas=True)))
    return found.to_numpy(zero_copy_only=False).astype(bool)


def positions_in(values: pd.Series, unique: pd.Series | pd.Index) -> np.ndarray:
    """Position of each value in `unique` (values that must be distinct), -1 where absent."""
    found = pc.index_in(pa.array(values, from_pandas=True), value_set=pa.array(unique, from_pandas=True))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def composite_codes(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> list[np.ndarray]:
    """One int64 code per row for the combination of `columns`, comparable across `frames`."""
    codes = [np.zeros(len(df), dtype=np.int64) for df in frames]
    for column in columns:
        labels, uniques = pd.factorize(pd.concat([df[column] for df in frames], ignore_index=True))
        bounds = np.cumsum([0] + [len(df) for df in frames])
        for i in range(len(frames)):
            codes[i] = codes[i] * (len(uniques) + 1) + labels[bounds[i] : bounds[i + 1]]
    return codes


# ----------------------------------------------------------------------------------- helpers


def _contract(study: str) -> dict[str, Table]:
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; expected one of {sorted(STUDIES)}")
    return STUDIES[study]


def _check_table_names(study: str, contract: Mapping[str, Table], given: Mapping[str, object]) -> None:
    problems = [
        Problem(f"{study} inputs", f"no file given for the '{name}' table") for name in contract if name not in given
    ]
    problems += [
        Problem(f"{study} inputs", f"'{name}' is not a table of {study} (expected {', '.join(contract)})")
        for name in given
        if name not in contract
    ]
    if problems:
        raise InputError(problems)
