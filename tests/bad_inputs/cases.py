"""The bad-input corpus: each case writes one malformed input from a valid baseline.

A case is one of:

- a **study** case (`kind` "study1" or "study2"): the study's tables, CSV text written from
  `BASELINE[study]` after the case's edit and in the case's file format (byte-order mark,
  `;`, Latin-1, an empty file, ...), read by the workflow with `source: files`;
- a **model** case (`kind` "model"): a user's data file (`MODEL_BASELINE`, edited) and a
  `models:` entry whose `data:` is that file's path;
- a **config** case (`kind` "config"): an edit of the workflow's config.

Every case says what must happen: `outcome` "error" (the job of `rule` fails, its message names
the file, column, rows and reason listed in `expect`, and no output of the job is left) or
"handled" (the run succeeds and the job's log records the handling, `log`). The expectations are
substrings of the message, so they hold for the package-level path (the exception's text) and the
workflow-level path (the job's log and Snakemake's stderr) alike.

`write_case(case, directory)` writes a case's files; `workflow_config(case, written, config)`
points a workflow config at them and returns the targets to build. Used by
tests/test_bad_input_corpus.py; the list of cases with their handling is in docs/reliability.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Rows = list[list[str]]  # a table as CSV cells: header first
Tables = dict[str, Rows]


def _table(text: str) -> Rows:
    return [line.split(",") for line in text.strip().splitlines()]


# ------------------------------------------------------------------------------- baselines

# Valid tables; every table has several rows, so a bad cell's row number is informative. The
# reference levels of the default config (ebp MAP, race_ethnicity Hispanic/Latinx) occur.
STUDY1_BASELINE = {
    "therapists": _table("""
therapist_id,licensed,race_ethnicity,n_ebps_trained,emotional_exhaustion,direct_client_hours
T01,yes,Hispanic/Latinx,3,2.5,20
T02,no,White,1,4.0,30.5
T03,no,Asian American,2,1.0,25
T04,yes,Hispanic/Latinx,4,3.2,18
"""),
    "clients": _table("""
client_id,therapist_id,child_age,child_female,child_latinx
C01,T01,8,yes,yes
C02,T01,12.5,no,no
C03,T02,6,yes,no
C04,T02,15,no,yes
C05,T03,10,yes,yes
C06,T03,9,no,no
C07,T04,13,yes,yes
C08,T04,7.5,no,yes
"""),
    "sessions": _table("""
session_id,client_id,ebp,caregiver_present,ebp_fit,stressful_event,homework
S01,C01,MAP,yes,4,no,yes
S02,C01,MAP,no,3.5,no,no
S03,C02,TF-CBT,yes,5,yes,yes
S04,C02,TF-CBT,no,2,no,no
S05,C03,CPP,yes,4,no,no
S06,C03,CPP,yes,4.5,no,yes
S07,C04,MAP,no,3,yes,no
S08,C04,Seeking Safety,no,1,no,yes
S09,C05,MAP,yes,3,no,no
S10,C05,Triple P,yes,4,no,yes
S11,C06,TF-CBT,no,2.5,yes,no
S12,C06,TF-CBT,yes,3.5,no,yes
S13,C07,MAP,no,4,no,no
S14,C07,MAP,yes,4.5,no,yes
S15,C08,CPP,yes,3,yes,no
S16,C08,CPP,no,2,no,yes
"""),
}


def _study2_sessions() -> Rows:
    rows = [["session_id", "client_id", "session_number", "n_units", "ar_count", "review_units", "review_percentage"]]
    k = 0
    for c in range(1, 9):
        for number in (1, 2, 3):
            k += 1
            n_units, units = 100 + 10 * c, (c + number) % 7
            rows.append([f"S{k:02d}", f"C{c:02d}", str(number), str(n_units), str((c * number) % 5), str(units),
                         f"{100 * units / n_units:.3f}"])  # fmt: skip
    return rows


def _study2_assessments() -> Rows:
    rows = [["client_id", "session_number", "phq9", "gad7"]]
    for c in range(1, 9):
        rows.append([f"C{c:02d}", "1", str(8 + c), str(5 + c % 4)])
        rows.append([f"C{c:02d}", "3", str(6 + c % 5), str(3 + c % 6)])
    return rows


STUDY2_BASELINE = {
    "therapists": _table("therapist_id,organisation_id\nT01,O01\nT02,O01\nT03,O02\nT04,O03"),
    "clients": _table("client_id,therapist_id\nC01,T01\nC02,T01\nC03,T02\nC04,T02\nC05,T03\nC06,T03\nC07,T04\nC08,T04"),
    "sessions": _study2_sessions(),
    "assessments": _study2_assessments(),
}

BASELINE = {"study1": STUDY1_BASELINE, "study2": STUDY2_BASELINE}


def _model_data() -> Rows:
    """48 rows: binary y, numeric x, a 3-level arm, 6 groups g; no level separates y."""
    rows = [["y", "x", "arm", "g"]]
    for i in range(48):
        x = round(((i * 37) % 23) / 5 - 2.2, 2)
        rows.append([str((i * 7 + i // 3) % 3 % 2), f"{x:g}", "abc"[i % 3], f"G{i % 6 + 1}"])
    return rows


MODEL_BASELINE = {"data": _model_data()}
MODEL_SPEC = {"formula": "y ~ x + arm + (1 | g)", "family": "bernoulli"}


# ------------------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class FileFormat:
    """How one table is written: encoding, delimiter, suffix; `raw` replaces the file's bytes."""

    encoding: str = "utf-8"
    delimiter: str = ","
    suffix: str = ".csv"
    raw: bytes | None = None


@dataclass(frozen=True)
class Case:
    id: str
    title: str  # the wording
    kind: str  # "study1", "study2", "model" or "config"
    outcome: str  # "error" or "handled"
    rule: str | None  # the job that fails or handles it (its log); None: Snakemake itself
    expect: tuple[str, ...]  # substrings of the message: file, column, rows, reason
    edit: Callable[[Tables], None] | None = None
    formats: dict[str, FileFormat] = field(default_factory=dict)
    model: dict = field(default_factory=dict)  # overrides of MODEL_SPEC for model cases
    config_edit: Callable[[dict], None] | None = None
    stage: str = "clean"  # target: "clean", "features" (study) or "model"
    log: tuple[str, ...] = ()  # handled cases: substrings the job's log must contain
    missing_file: bool = False  # a study case whose `sessions` path does not exist
    package_expect: tuple[str, ...] | None = None  # `expect` of the package-level path, if other
    check: Callable[[dict], None] | None = None  # handled study cases: on the cleaned tables
    fast: bool = False  # part of the fast workflow-level subset (make test)
    note: str = ""  # how it is handled, for docs/reliability.md

    @property
    def model_name(self) -> str:
        return f"case_{self.id}"

    @property
    def study(self) -> str | None:
        return self.kind if self.kind in BASELINE else None


def set_cell(table: str, column: str, row: int, value: str):
    """Edit: set data row `row` (1-based, below the header) of `column` to `value`."""

    def edit(tables: Tables) -> None:
        rows = tables[table]
        rows[row][rows[0].index(column)] = value

    return edit


def set_column(table: str, column: str, value: str):
    def edit(tables: Tables) -> None:
        rows = tables[table]
        j = rows[0].index(column)
        for r in rows[1:]:
            r[j] = value

    return edit


def drop_column(table: str, column: str):
    def edit(tables: Tables) -> None:
        j = tables[table][0].index(column)
        for r in tables[table]:
            del r[j]

    return edit


def rename_column(table: str, old: str, new: str):
    def edit(tables: Tables) -> None:
        header = tables[table][0]
        header[header.index(old)] = new

    return edit


def add_column(table: str, column: str, value: Callable[[int], str]):
    def edit(tables: Tables) -> None:
        tables[table][0].append(column)
        for i, r in enumerate(tables[table][1:], 1):
            r.append(value(i))

    return edit


def append_row(table: str, row: str):
    def edit(tables: Tables) -> None:
        tables[table].append(row.split(","))

    return edit


def replace_value(table: str, column: str, old: str, new: str):
    def edit(tables: Tables) -> None:
        j = tables[table][0].index(column)
        for r in tables[table][1:]:
            if r[j] == old:
                r[j] = new

    return edit


def edits(*functions):
    def edit(tables: Tables) -> None:
        for f in functions:
            f(tables)

    return edit


def _reference_level(config: dict) -> None:
    config["study1"]["reference_levels"] = {"ebp": "MAP", "race_ethnicity": "Hispanic/Latinx"}


def _wrong_type_config(config: dict) -> None:
    config["privacy"]["min_cell"] = "eleven"


def _wrong_type_model_key(config: dict) -> None:
    config["models"]["homework"]["draws"] = "many"


# Checks of handled study cases, on the cleaned tables ({name: DataFrame}).
def _no_notes(tables: dict) -> None:
    assert "therapist_notes" not in tables["sessions"].columns
    assert len(tables["sessions"]) == len(STUDY2_BASELINE["sessions"]) - 1


def _bom_read(tables: dict) -> None:
    assert list(tables["therapists"].columns)[0] == "therapist_id"
    assert len(tables["therapists"]) == len(STUDY1_BASELINE["therapists"]) - 1


def _semicolon_read(tables: dict) -> None:
    ages = sorted(tables["clients"]["child_age"].tolist())
    assert ages == sorted([8, 12.5, 6, 15, 10, 9, 13, 7.5]), ages


def _latin1_read(tables: dict) -> None:
    assert "Asiático" in set(tables["therapists"]["race_ethnicity"].astype(str))


def _codes_missing(tables: dict) -> None:
    clients = tables["clients"]
    assert int(clients["child_female"].isna().sum()) == 2
    assert int(clients["child_latinx"].isna().sum()) == 2


CASES: list[Case] = [
    # --------------------------------------------------------------- study 1: columns and cells
    Case(
        "s1_missing_column",
        "missing column",
        "study1",
        "error",
        "clean_study1",
        ("sessions.csv", "'stressful_event'", "required column 'stressful_event' is missing"),
        edit=drop_column("sessions", "stressful_event"),
        note="error: file, column and reason (no rows: the whole column is absent)",
    ),
    Case(
        "s1_misspelled_column",
        "misspelled column",
        "study1",
        "error",
        "clean_study1",
        ("therapists.csv", "'licensed'", "is missing", "did you mean 'licensed'", "'licenced'"),
        edit=rename_column("therapists", "licensed", "licenced"),
        fast=True,
        note="error naming the expected column, with a did-you-mean hint naming the file's column",
    ),
    Case(
        "s2_extra_column",
        "extra unknown column (warning)",
        "study2",
        "handled",
        "clean_study2",
        (),
        edit=add_column("sessions", "therapist_notes", lambda i: f"free text {i}"),
        stage="features",
        log=("WARNING", "sessions.csv", "unknown column(s) 'therapist_notes'", "dropped"),
        fast=True,
        note="warning in the log; the column is dropped, so it cannot reach any output",
        check=_no_notes,
    ),
    Case(
        "s1_wrong_type",
        "wrong type",
        "study1",
        "error",
        "clean_study1",
        ("clients.csv", "'child_age'", "data row 3 ", "not a number", "'eight'"),
        edit=set_cell("clients", "child_age", 3, "eight"),
        fast=True,
        note="error: file, column, data row, reason and the offending value",
    ),
    Case(
        "s1_int_not_whole",
        "wrong type (a fraction in an integer column)",
        "study1",
        "error",
        "clean_study1",
        ("therapists.csv", "'n_ebps_trained'", "data row 2 ", "not a whole number"),
        edit=set_cell("therapists", "n_ebps_trained", 2, "2.5"),
    ),
    Case(
        "s2_wrong_type_count",
        "wrong type (Study 2 count)",
        "study2",
        "error",
        "clean_study2",
        ("sessions.csv", "'n_units'", "data row 5 ", "not a number"),
        edit=set_cell("sessions", "n_units", 5, "many"),
    ),
    Case(
        "s2_out_of_range_score",
        "out-of-range score",
        "study2",
        "error",
        "clean_study2",
        ("assessments.csv", "'phq9'", "data row 4 ", "outside the allowed range (0 to 27)", "'31'"),
        edit=set_cell("assessments", "phq9", 4, "31"),
        fast=True,
        note="error: file, column, data row, allowed range and value",
    ),
    Case(
        "s1_negative_age",
        "negative age",
        "study1",
        "error",
        "clean_study1",
        ("clients.csv", "'child_age'", "data row 5 ", "outside the allowed range (1 to 21)", "'-4'"),
        edit=set_cell("clients", "child_age", 5, "-4"),
    ),
    Case(
        "s1_bool_unrecognised",
        "wrong type (yes/no column)",
        "study1",
        "error",
        "clean_study1",
        ("sessions.csv", "'caregiver_present'", "data row 7 ", "not a recognised yes/no code", "'sometimes'"),
        edit=set_cell("sessions", "caregiver_present", 7, "sometimes"),
    ),
    # --------------------------------------------------------------- keys and relations
    Case(
        "s2_duplicate_ids",
        "duplicate IDs",
        "study2",
        "error",
        "clean_study2",
        ("therapists.csv", "'therapist_id'", "data rows 1, 2 ", "duplicate key: therapist_id must be unique"),
        edit=set_cell("therapists", "therapist_id", 2, "T01"),
        note="error: file, key column, every row sharing the key",
    ),
    Case(
        "s1_orphan_foreign_key",
        "orphan foreign key",
        "study1",
        "error",
        "clean_study1",
        ("sessions.csv", "'client_id'", "data row 9 ", "client_id not found in the clients table", "clients.csv"),
        edit=set_cell("sessions", "client_id", 9, "C99"),
        fast=True,
        note="error: child file, column, rows, and the parent file it was looked up in",
    ),
    Case(
        "s2_orphan_assessment",
        "orphan foreign key (Study 2 assessments)",
        "study2",
        "error",
        "clean_study2",
        ("assessments.csv", "'client_id'", "data row 16 ", "client_id not found in the clients table"),
        edit=set_cell("assessments", "client_id", 16, "C77"),
    ),
    Case(
        "s1_client_two_therapists",
        "client under two therapists",
        "study1",
        "error",
        "clean_study1",
        ("clients.csv", "'client_id'", "data rows 1, 9 ", "recorded under different therapist_id values"),
        edit=append_row("clients", "C01,T02,8,yes,yes"),
        note="error: the client's rows, naming both as under different therapists",
    ),
    Case(
        "s2_review_above_units",
        "impossible cross-column value (review units above units)",
        "study2",
        "error",
        "clean_study2",
        ("sessions.csv", "'review_units'", "data row 2 ", "review_units is greater than n_units"),
        edit=set_cell("sessions", "review_units", 2, "500"),
    ),
    # --------------------------------------------------------------- whole files
    Case(
        "s2_empty_file",
        "empty file",
        "study2",
        "error",
        "clean_study2",
        ("clients.csv", "the file is empty (0 bytes)"),
        formats={"clients": FileFormat(raw=b"")},
        fast=True,
        note="error: file and reason (no column or rows to name)",
    ),
    Case(
        "s1_header_only",
        "header only",
        "study1",
        "error",
        "clean_study1",
        ("sessions.csv", "the file has a header but no data rows"),
        edit=lambda t: t.update(sessions=t["sessions"][:1]),
        note="error: file and reason",
    ),
    Case(
        "s1_missing_file",
        "file not found",
        "study1",
        "error",
        None,
        ("Missing input files for rule clean_study1", "sessions.csv"),
        missing_file=True,
        note="Snakemake refuses before any job runs, naming the rule and the missing file",
        package_expect=("sessions.csv", "file not found"),
    ),
    Case(
        "s1_unsupported_format",
        "a spreadsheet instead of CSV",
        "study1",
        "error",
        "clean_study1",
        ("therapists.xlsx", "cannot read files ending in '.xlsx'", "use .csv or .parquet"),
        formats={"therapists": FileFormat(suffix=".xlsx")},
    ),
    # --------------------------------------------------------------- how the file was saved
    Case(
        "s1_bom",
        "Excel-style CSV with a byte-order mark",
        "study1",
        "handled",
        "clean_study1",
        (),
        formats={"therapists": FileFormat(encoding="utf-8-sig")},
        stage="features",
        log=("therapists.csv", "byte-order mark removed"),
        fast=True,
        note="read as UTF-8; the mark is removed (logged), column names are clean",
        check=_bom_read,
    ),
    Case(
        "s1_semicolon",
        "semicolon-delimited CSV (with decimal commas)",
        "study1",
        "handled",
        "clean_study1",
        (),
        edit=set_cell("clients", "child_age", 2, "12,5"),
        formats={"clients": FileFormat(delimiter=";")},
        stage="features",
        log=("clients.csv", "delimiter ';'", "decimal comma"),
        fast=True,
        note="delimiter detected from the header (logged); `3,5` read as 3.5 in a `;` file (logged)",
        check=_semicolon_read,
    ),
    Case(
        "s1_latin1",
        "Latin-1 encoded file",
        "study1",
        "handled",
        "clean_study1",
        (),
        edit=replace_value("therapists", "race_ethnicity", "Asian American", "Asiático"),
        formats={"therapists": FileFormat(encoding="latin-1")},
        stage="features",
        log=("WARNING", "therapists.csv is not valid UTF-8; read it as Latin-1"),
        fast=True,
        note="warning; decoded as cp1252/Latin-1, accents kept",
        check=_latin1_read,
    ),
    Case(
        "s1_missing_codes",
        'missing-value codes (-99, ".", "NA", "")',
        "study1",
        "handled",
        "clean_study1",
        (),
        edit=edits(
            set_cell("clients", "child_female", 1, "-99"),
            set_cell("clients", "child_female", 2, "."),
            set_cell("clients", "child_latinx", 3, "NA"),
            set_cell("clients", "child_latinx", 4, ""),
        ),
        check=_codes_missing,
        stage="features",
        log=("clients.csv", "column 'child_female': 2 cells read as missing", "column 'child_latinx': 2 cells"),
        fast=True,
        note="configured codes (and empty cells) read as missing in nullable columns (logged per column)",
    ),
    Case(
        "s1_missing_code_required",
        "missing-value code in a column that may not be missing",
        "study1",
        "error",
        "clean_study1",
        ("clients.csv", "'child_age'", "data row 6 ", "missing value, but this column may not be missing", "'-99'"),
        edit=set_cell("clients", "child_age", 6, "-99"),
    ),
    # --------------------------------------------------------------- outcomes
    Case(
        "s1_all_missing_outcome",
        "all-missing outcome",
        "study1",
        "error",
        "clean_study1",
        ("sessions.csv", "'homework'", "data rows 1, 2, 3, 4, 5, ... (16 rows in total)", "may not be missing"),
        edit=set_column("sessions", "homework", "NA"),
        note="error: every row named (first five and the total)",
    ),
    Case(
        "s2_all_missing_score",
        "all-missing outcome (nullable score)",
        "study2",
        "error",
        "clean_study2",
        ("assessments.csv", "'gad7'", "all values are missing"),
        edit=set_column("assessments", "gad7", ""),
    ),
    Case(
        "s1_outcome_third_value",
        "outcome with a third value",
        "study1",
        "error",
        "clean_study1",
        ("sessions.csv", "'homework'", "data row 6 ", "not a recognised yes/no code", "'maybe'"),
        edit=set_cell("sessions", "homework", 6, "maybe"),
        fast=True,
    ),
    # --------------------------------------------------------------- levels and clusters
    Case(
        "s1_level_absent",
        "a categorical level present in one table and not another (config vs data)",
        "study1",
        "error",
        "features_study1",
        ("reference level 'MAP'", "column 'ebp'", "does not occur in the data", "levels present"),
        edit=replace_value("sessions", "ebp", "MAP", "Modular Approach"),
        config_edit=_reference_level,
        stage="features",
        note="error from the features job: the configured reference level is not among the data's levels",
    ),
    Case(
        "s2_single_organisation",
        "a single cluster (Study 2: one organisation)",
        "study2",
        "error",
        "fit_model_phq9_change",
        ("grouping factor 'organisation_id' has a single level",),
        edit=set_column("therapists", "organisation_id", "O01"),
        stage="study_model",
        note="valid input; the outcome model refuses before sampling (ModelSpecError)",
    ),
    # --------------------------------------------------------------- model data and formulas
    Case(
        "m_unparseable_formula",
        "an unparseable formula",
        "model",
        "error",
        "fit_model_case_m_unparseable_formula",
        ("cannot parse formula 'y ~ x + * arm + (1 | g'",),
        model={"formula": "y ~ x + * arm + (1 | g"},
        stage="model",
        note="ModelSpecError before sampling, quoting the formula",
    ),
    Case(
        "m_formula_missing_column",
        "a formula naming a missing column",
        "model",
        "error",
        "fit_model_case_m_formula_missing_column",
        ("uses column(s) not in the data: ['dose']",),
        model={"formula": "y ~ x + dose + (1 | g)"},
        stage="model",
        fast=True,
    ),
    Case(
        "m_single_cluster",
        "a single cluster",
        "model",
        "error",
        "fit_model_case_m_single_cluster",
        ("grouping factor 'g' has a single level",),
        edit=set_column("data", "g", "G1"),
        stage="model",
    ),
    Case(
        "m_constant_predictor",
        "a constant predictor",
        "model",
        "error",
        "fit_model_case_m_constant_predictor",
        ("predictor 'dose' is constant (single value 5)",),
        edit=add_column("data", "dose", lambda i: "5"),
        model={"formula": "y ~ x + dose + (1 | g)"},
        stage="model",
    ),
    Case(
        "m_complete_separation",
        "complete separation",
        "model",
        "handled",
        "fit_model_case_m_complete_separation",
        (),
        edit=lambda t: [r.__setitem__(0, "1") for r in t["data"][1:] if r[2] == "c"],
        stage="model",
        log=("complete separation: outcome is always 1 when arm == 'c'", "identified only by the prior"),
        note="warning (log and report); the fit goes on, the level's coefficient follows its prior",
    ),
    Case(
        "m_outcome_third_value",
        "outcome with a third value (model data)",
        "model",
        "error",
        "fit_model_case_m_outcome_third_value",
        ("bernoulli outcome 'y' must be 0/1", "found 1 other value(s)", "['2']", "data row 7 (1 row in total)"),
        edit=set_cell("data", "y", 7, "2"),
        stage="model",
    ),
    Case(
        "m_all_missing_outcome",
        "all-missing outcome (model data)",
        "model",
        "error",
        "fit_model_case_m_all_missing_outcome",
        ("column 'y' has 48 missing value(s)", "data rows 1, 2, 3, 4, 5, ... (48 rows in total)"),
        edit=set_column("data", "y", "NA"),
        stage="model",
    ),
    Case(
        "m_missing_codes",
        'missing-value codes in model data (-99, ".")',
        "model",
        "error",
        "fit_model_case_m_missing_codes",
        ("column 'x' has 2 missing value(s)", "data rows 4, 10", "drop or impute"),
        edit=edits(set_cell("data", "x", 4, "-99"), set_cell("data", "x", 10, ".")),
        stage="model",
        log=("column 'x': 2 cells read as missing",),
        note="the configured codes are read as missing (logged), then the model refuses missing values",
    ),
    Case(
        "m_reference_level_absent",
        "a categorical level named in the config and absent from the data",
        "model",
        "error",
        "fit_model_case_m_reference_level_absent",
        ("'placebo' is not a level of 'arm'",),
        model={"reference_levels": {"arm": "placebo"}},
        stage="model",
    ),
    Case(
        "m_empty_file",
        "empty file (model data)",
        "model",
        "error",
        "fit_model_case_m_empty_file",
        ("data.csv", "the file is empty"),
        formats={"data": FileFormat(raw=b"")},
        stage="model",
    ),
    # --------------------------------------------------------------- other families' outcomes
    Case(
        "m_negative_count",
        "negative or non-integer counts",
        "model",
        "error",
        "fit_model_case_m_negative_count",
        ("poisson outcome 'visits' must hold non-negative integer counts", "2 value(s) do not", "data rows 3, 8"),
        edit=edits(add_column("data", "visits", lambda i: str(i % 5)), set_cell("data", "visits", 3, "-1"), set_cell("data", "visits", 8, "2.5")),
        model={"formula": "visits ~ x + arm + (1 | g)", "family": "poisson"},
        stage="model",
    ),
    Case(
        "m_successes_above_trials",
        "successes above trials",
        "model",
        "error",
        "fit_model_case_m_successes_above_trials",
        ("binomial outcome 'done' exceeds its trials 'assigned'", "data row 5 (1 row in total)"),
        edit=edits(add_column("data", "done", lambda i: str(i % 4)), add_column("data", "assigned", lambda i: "4"), set_cell("data", "done", 5, "7")),
        model={"formula": "done | trials(assigned) ~ x + arm + (1 | g)", "family": "binomial"},
        stage="model",
    ),
    Case(
        "m_trials_not_positive",
        "trials <= 0 or non-integer",
        "model",
        "error",
        "fit_model_case_m_trials_not_positive",
        ("binomial trials 'assigned' must be positive integers; 2 value(s) are not", "data rows 2, 9"),
        edit=edits(add_column("data", "done", lambda i: str(i % 2)), add_column("data", "assigned", lambda i: "4"), set_cell("data", "assigned", 2, "0"), set_cell("data", "assigned", 9, "3.5")),
        model={"formula": "done | trials(assigned) ~ x + arm + (1 | g)", "family": "binomial"},
        stage="model",
    ),
    Case(
        "m_proportion_at_bounds",
        "proportions at or outside 0 and 1",
        "model",
        "error",
        "fit_model_case_m_proportion_at_bounds",
        ("beta outcome 'share' must lie strictly between 0 and 1", "(1 equal to 0, 1 equal to 1, 0 outside [0, 1])", "data rows 4, 6", "Smithson & Verkuilen"),
        edit=edits(add_column("data", "share", lambda i: f"{(i % 9 + 1) / 10:g}"), set_cell("data", "share", 4, "0"), set_cell("data", "share", 6, "1")),
        model={"formula": "share ~ x + arm + (1 | g)", "family": "beta"},
        stage="model",
    ),
    Case(
        "m_ordinal_two_categories",
        "an ordinal outcome with fewer than 3 categories",
        "model",
        "error",
        "fit_model_case_m_ordinal_two_categories",
        ("cumulative outcome 'y' has 2 categories ['0', '1']; an ordinal model needs at least 3",),
        model={"family": "cumulative"},
        stage="model",
    ),
    Case(
        "m_ordinal_unordered_strings",
        "unordered strings without outcome_levels",
        "model",
        "error",
        "fit_model_case_m_ordinal_unordered_strings",
        ("cumulative outcome 'rating' holds unordered values", "give their order in the model's 'outcome_levels'"),
        edit=add_column("data", "rating", lambda i: ("low", "mid", "high")[i % 3]),
        model={"formula": "rating ~ x + arm + (1 | g)", "family": "cumulative"},
        stage="model",
    ),
    Case(
        "m_outcome_level_absent",
        "a category in outcome_levels absent from the data",
        "model",
        "error",
        "fit_model_case_m_outcome_level_absent",
        ("cumulative outcome 'rating': category ['extreme'] of ['low', 'mid', 'high', 'extreme'] never occur in the data",),
        edit=add_column("data", "rating", lambda i: ("low", "mid", "high")[i % 3]),
        model={"formula": "rating ~ x + arm + (1 | g)", "family": "cumulative", "outcome_levels": ["low", "mid", "high", "extreme"]},
        stage="model",
    ),
    Case(
        "m_trials_wrong_family",
        "trials() with a family other than binomial",
        "model",
        "error",
        "fit_model_case_m_trials_wrong_family",
        ("'| trials(assigned)' in the formula belongs to family binomial, not poisson",),
        edit=edits(add_column("data", "done", lambda i: str(i % 4)), add_column("data", "assigned", lambda i: "4")),
        model={"formula": "done | trials(assigned) ~ x + arm + (1 | g)", "family": "poisson"},
        stage="model",
    ),
    # --------------------------------------------------------------- correlated group effects
    Case(
        "m_correlated_single_level",
        "a correlated bar whose grouping factor has one level",
        "model",
        "error",
        "fit_model_case_m_correlated_single_level",
        ("grouping factor 'site' has a single level (S1)", "drop the (…|site) term"),
        edit=add_column("data", "site", lambda i: "S1"),
        model={"formula": "y ~ x + arm + (1 + x | site)"},
        stage="model",
    ),
    Case(
        "m_term_in_two_bars",
        "a group-level term written in two bars",
        "model",
        "error",
        "fit_model_case_m_term_in_two_bars",
        ("group-level term '1|g' appears in two bars", "write each varying term once"),
        model={"formula": "y ~ x + arm + (1 | g) + (1 + x | g)"},
        stage="model",
    ),
    Case(
        "m_cor_prior_not_lkj",
        "a correlation prior that is not LKJ",
        "model",
        "error",
        "fit_model_case_m_cor_prior_not_lkj",
        ("prior 'cor': dist 'normal' not allowed here; use one of ['lkj']",),
        model={"formula": "y ~ x + arm + (1 + x | g)", "priors": {"cor": {"dist": "normal", "sigma": 1}}},
        stage="model",
    ),
    # --------------------------------------------------------------- config
    Case(
        "c_wrong_type",
        "a config key of the wrong type",
        "config",
        "error",
        None,
        ("Error validating config file", "'eleven' is not of type 'integer'", "['privacy']['min_cell']"),
        config_edit=_wrong_type_config,
        fast=True,
        note="Snakemake stops before building the DAG, naming the key, the value and the expected type",
    ),
    Case(
        "c_wrong_type_model_key",
        "a config key of the wrong type (a model's setting)",
        "config",
        "error",
        None,
        ("Error validating config file", "'many' is not of type 'integer'", "['homework']['draws']"),
        config_edit=_wrong_type_model_key,
    ),
]

CASE_IDS = [c.id for c in CASES]
BY_ID = {c.id: c for c in CASES}


# ------------------------------------------------------------------------------- writing


@dataclass
class Written:
    """A written case: its files by table name, and the model entry (model cases)."""

    case: Case
    files: dict[str, Path]
    model: dict | None = None


def encode(rows: Rows, fmt: FileFormat) -> bytes:
    if fmt.raw is not None:
        return fmt.raw
    text = "\n".join(fmt.delimiter.join(r) for r in rows) + "\n"
    return text.encode(fmt.encoding)


def write_case(case: Case, directory: Path) -> Written:
    """Write the case's input files under `directory`; return where they are."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if case.kind == "config":
        return Written(case, {})
    tables = copy.deepcopy(MODEL_BASELINE if case.kind == "model" else BASELINE[case.kind])
    if case.edit is not None:
        case.edit(tables)
    files = {}
    for name, rows in tables.items():
        fmt = case.formats.get(name, FileFormat())
        path = directory / f"{name}{fmt.suffix}"
        path.write_bytes(encode(rows, fmt))
        files[name] = path
    if case.missing_file:
        files["sessions"].unlink()
    model = None
    if case.kind == "model":
        model = {"data": str(files["data"]), **MODEL_SPEC, **copy.deepcopy(case.model)}
    return Written(case, files, model)


def workflow_config(written: Written, config: dict) -> tuple[dict, list[str]]:
    """`config` (a full workflow config) pointed at the case's files; and the targets to build."""
    case, config = written.case, copy.deepcopy(config)
    run = config["run"]
    if case.config_edit is not None:
        case.config_edit(config)
    if case.study is not None:
        study = case.study
        config[study]["source"] = "files"
        config[study]["files"] = {name: str(path) for name, path in written.files.items()}
        if case.stage == "clean":
            return config, [f"results/{run}/{study}/clean/flow.csv"]
        if case.stage == "features":
            return config, [f"results/{run}/{study}/table1.csv"]
        model = config["study2"]["outcome_models"]["phq9"]
        return config, [f"results/{run}/models/{model}/summary.csv"]
    if case.kind == "model":
        config["models"][case.model_name] = written.model
        return config, [f"results/{run}/models/{case.model_name}/summary.csv"]
    return config, [f"results/{run}/study1/clean/flow.csv"]
