"""Reading, validation and pseudonyms: every bad input is reported with file, column, data rows
and reason; every good input in its usual disguises (BOM, `;`, Latin-1, codes) reads the same."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_tables import frames, study1_frames, study2_frames, write_study

from homeworkflow.data.contract import STUDIES
from homeworkflow.util.io import read_table, write_table
from homeworkflow.data.privacy import pseudonymise
from homeworkflow.data.contract_docs import contract_markdown
from homeworkflow.data.validate import DEFAULT_MISSING_CODES, InputError, load_study

ROOT = Path(__file__).resolve().parents[1]


def load(tmp_path: Path, study: str = "study1", edit=None, **options) -> dict[str, pd.DataFrame]:
    """Write the study's fixture (after `edit(tables)`) as CSV and load it."""
    tables = frames(study)
    if edit is not None:
        edit(tables)
    return load_study(study, write_study(tmp_path, tables), **options)


def error(tmp_path: Path, study: str, edit) -> str:
    with pytest.raises(InputError) as info:
        load(tmp_path, study, edit)
    return str(info.value)


def set_cell(table: str, column: str, value: str, row: int = 2):
    """An edit that sets one cell (row is 0-based, i.e. data row row + 1)."""

    def edit(tables):
        tables[table].loc[row, column] = value

    return edit


# ------------------------------------------------------------------------------ good inputs


def test_valid_inputs_load_with_contract_types(tmp_path):
    s1 = load(tmp_path / "1", "study1")
    assert s1["sessions"]["homework"].dtype == bool
    assert s1["therapists"]["n_ebps_trained"].dtype == "int64"
    assert s1["clients"]["child_age"].dtype == "float64"
    assert str(s1["clients"]["child_female"].dtype) == "boolean"
    assert s1["clients"]["child_female"].isna().sum() == 1  # the empty cell
    assert s1["clients"]["child_latinx"].isna().sum() == 1  # "NA"
    s2 = load(tmp_path / "2", "study2")
    assert str(s2["assessments"]["gad7"].dtype) == "Int64"
    assert s2["assessments"]["gad7"].isna().sum() == 1
    assert list(s2["sessions"].columns) == STUDIES["study2"]["sessions"].names


def test_optional_columns_may_be_absent(tmp_path):
    tables = study2_frames(true_columns=False)
    loaded = load_study("study2", write_study(tmp_path, tables))
    assert "review_percentage_true" not in loaded["sessions"]


@pytest.mark.parametrize("variant", ["bom", "semicolon", "tab", "latin1", "crlf"])
def test_csv_variants_read_the_same(tmp_path, variant, caplog):
    tables = study1_frames()
    tables["therapists"].loc[0, "race_ethnicity"] = "Other: Méxicano – Ñ"
    reference = load_study("study1", write_study(tmp_path / "ref", tables))
    options = {
        "bom": {"encoding": "utf-8-sig"},
        "semicolon": {"sep": ";"},
        "tab": {"sep": "\t"},
        "latin1": {"encoding": "cp1252"},
        "crlf": {"lineterminator": "\r\n"},
    }[variant]
    with caplog.at_level(logging.WARNING):
        loaded = load_study("study1", write_study(tmp_path / variant, tables, **options))
    for name in reference:
        pd.testing.assert_frame_equal(loaded[name], reference[name])
    if variant == "latin1":
        assert any("therapists.csv" in r.getMessage() and "Latin-1" in r.getMessage() for r in caplog.records)


def test_decimal_comma_in_semicolon_file(tmp_path):
    tables = study1_frames()
    tables["therapists"].loc[0, "emotional_exhaustion"] = "2,75"
    loaded = load_study("study1", write_study(tmp_path, tables, sep=";"))
    assert loaded["therapists"].loc[0, "emotional_exhaustion"] == 2.75


@pytest.mark.parametrize("code", list(DEFAULT_MISSING_CODES) + ["  NA ", "Missing", "-99.0", "-999.00"])
def test_missing_codes_become_missing(tmp_path, code):
    def edit(tables):
        tables["assessments"].loc[0, "phq9"] = code
        tables["assessments"].loc[0, "gad7"] = code

    loaded = load(tmp_path, "study2", edit)
    assert pd.isna(loaded["assessments"].loc[0, "phq9"])
    assert pd.isna(loaded["assessments"].loc[0, "gad7"])


def test_missing_codes_can_be_configured(tmp_path):
    def edit(tables):
        tables["assessments"].loc[0, "phq9"] = "999"
        tables["clients"].loc[0, "child_female"] = "unknown"

    tables = frames("study2")
    edit(tables)
    loaded = load_study("study2", write_study(tmp_path, tables), missing_codes=["999", "unknown"])
    assert pd.isna(loaded["assessments"].loc[0, "phq9"])
    with pytest.raises(InputError, match="outside the allowed range"):
        load_study("study2", write_study(tmp_path / "default", tables))


@pytest.mark.parametrize(
    "code, value",
    [("yes", True), ("YES", True), ("Y", True), ("True", True), ("t", True), ("1", True), ("1.0", True),
     ("no", False), ("N", False), ("FALSE", False), ("f", False), ("0", False), ("0.0", False), (" No ", False)],
)  # fmt: skip
def test_bool_codes_harmonised(tmp_path, code, value):
    loaded = load(tmp_path, "study1", set_cell("sessions", "homework", code))
    assert bool(loaded["sessions"].loc[2, "homework"]) is value
    assert loaded["sessions"]["homework"].dtype == bool


def test_ids_stay_text_and_are_stripped(tmp_path):
    def edit(tables):
        tables["therapists"].loc[0, "therapist_id"] = " 007 "
        tables["clients"].loc[[0, 1], "therapist_id"] = "007"

    loaded = load(tmp_path, "study1", edit)
    assert loaded["therapists"].loc[0, "therapist_id"] == "007"
    assert set(loaded["clients"]["therapist_id"]) >= {"007"}


def test_parquet_inputs(tmp_path):
    text = load_study("study2", write_study(tmp_path / "text", study2_frames(), suffix=".parquet"))
    typed = load_study("study2", write_study(tmp_path / "typed", text, suffix=".parquet"))
    for name in text:
        pd.testing.assert_frame_equal(typed[name], text[name])


# ------------------------------------------------------------------------------- bad inputs


def test_missing_column_with_near_miss_hint(tmp_path):
    message = error(
        tmp_path, "study1", lambda t: t.__setitem__("clients", t["clients"].rename(columns={"child_age": "chld_age"}))
    )
    assert "clients.csv" in message
    assert "required column 'child_age' is missing" in message
    assert "the file has 'chld_age': did you mean 'child_age'?" in message


def test_unknown_column_warns_and_is_dropped(tmp_path, caplog):
    def edit(tables):
        tables["sessions"]["therapist_notes"] = "private"

    with caplog.at_level(logging.WARNING):
        loaded = load(tmp_path, "study1", edit)
    assert "therapist_notes" not in loaded["sessions"]
    assert any("sessions.csv" in r.getMessage() and "'therapist_notes'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "study, table, column, value, reason",
    [
        ("study1", "therapists", "n_ebps_trained", "three", "not a number"),
        ("study1", "therapists", "n_ebps_trained", "2.5", "not a whole number"),
        ("study1", "sessions", "ebp_fit", "4..5", "not a number"),
        ("study1", "sessions", "ebp_fit", "inf", "not a finite number"),
        ("study1", "sessions", "homework", "maybe", "not a recognised yes/no code"),
        ("study1", "clients", "child_female", "2", "not a recognised yes/no code"),
        ("study2", "assessments", "phq9", "12.5", "not a whole number"),
    ],
)
def test_wrong_type(tmp_path, study, table, column, value, reason):
    message = error(tmp_path, study, set_cell(table, column, value))
    assert f"{table}.csv, column '{column}', data row 3 (1 row in total): {reason} (found '{value}')" in message


@pytest.mark.parametrize(
    "study, table, column, value, allowed",
    [
        ("study2", "assessments", "phq9", "28", "0 to 27"),
        ("study2", "assessments", "gad7", "22", "0 to 21"),
        ("study2", "assessments", "phq9", "-1", "0 to 27"),
        ("study2", "sessions", "review_percentage", "100.5", "0 to 100"),
        ("study2", "sessions", "ar_count", "-2", "0 to 100"),
        ("study2", "sessions", "session_number", "0", "at least 1"),
        ("study1", "clients", "child_age", "0.5", "1 to 21"),
        ("study1", "clients", "child_age", "25", "1 to 21"),
        ("study1", "therapists", "direct_client_hours", "-3", "0 to 80"),
        ("study1", "sessions", "ebp_fit", "6", "1 to 5"),
    ],
)
def test_out_of_range(tmp_path, study, table, column, value, allowed):
    message = error(tmp_path, study, set_cell(table, column, value))
    assert (
        f"{table}.csv, column '{column}', data row 3 (1 row in total): outside the allowed range ({allowed})" in message
    )


def test_missing_value_in_non_nullable_column(tmp_path):
    message = error(tmp_path, "study1", set_cell("sessions", "homework", "NA", row=4))
    assert "sessions.csv, column 'homework', data row 5 (1 row in total): missing value" in message


def test_missing_id(tmp_path):
    message = error(tmp_path, "study2", set_cell("sessions", "client_id", "", row=0))
    assert "sessions.csv, column 'client_id', data row 1" in message and "may not be missing" in message


@pytest.mark.parametrize("column", ["phq9", "gad7"])
def test_all_values_missing_in_nullable_outcome(tmp_path, column):
    message = error(tmp_path, "study2", lambda t: t["assessments"].__setitem__(column, "NA"))
    assert f"assessments.csv, column '{column}': all values are missing" in message


def test_first_five_rows_and_total_are_named(tmp_path):
    def edit(tables):
        tables["sessions"].loc[[0, 1, 3, 5, 6, 8, 10, 11], "homework"] = "perhaps"

    message = error(tmp_path, "study1", edit)
    assert "column 'homework', data rows 1, 2, 4, 6, 7, ... (8 rows in total): not a recognised yes/no code" in message


def test_duplicate_single_key(tmp_path):
    message = error(tmp_path, "study1", set_cell("sessions", "session_id", "S01", row=1))
    assert "sessions.csv, column 'session_id', data rows 1, 2 (2 rows in total): duplicate key" in message


def test_duplicate_composite_key(tmp_path):
    def edit(tables):
        tables["assessments"].loc[1, "session_number"] = "1"  # C1 assessed twice at session 1

    message = error(tmp_path, "study2", edit)
    assert (
        "assessments.csv, columns 'client_id', 'session_number', data rows 1, 2 (2 rows in total): duplicate key"
        in message
    )


def test_client_under_two_therapists(tmp_path):
    def edit(tables):
        tables["clients"] = pd.concat(
            [tables["clients"], pd.DataFrame({"client_id": ["C1"], "therapist_id": ["T2"]})], ignore_index=True
        )

    message = error(tmp_path, "study2", edit)
    assert "clients.csv, column 'client_id', data rows 1, 7 (2 rows in total)" in message
    assert "recorded under different therapist_id values (each client belongs to one therapist)" in message


def test_orphan_foreign_key(tmp_path):
    message = error(tmp_path, "study1", set_cell("sessions", "client_id", "C99", row=6))
    assert (
        "sessions.csv, column 'client_id', data row 7 (1 row in total): client_id not found in the clients table"
        in message
    )
    assert "'C99'" in message


def test_orphan_assessment_client(tmp_path):
    message = error(tmp_path, "study2", set_cell("assessments", "client_id", "C42", row=3))
    assert "assessments.csv, column 'client_id', data row 4" in message and "not found in the clients table" in message


def test_review_units_above_n_units(tmp_path):
    message = error(tmp_path, "study2", set_cell("sessions", "review_units", "150", row=1))
    assert (
        "sessions.csv, column 'review_units', data row 2 (1 row in total): review_units is greater than n_units"
        in message
    )


def test_duplicate_session_number_within_client(tmp_path):
    message = error(tmp_path, "study2", set_cell("sessions", "session_number", "1", row=1))
    assert (
        "sessions.csv, columns 'client_id', 'session_number', data rows 1, 2" in message
        and "unique together" in message
    )


def test_assessment_without_session_warns_and_is_kept(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        loaded = load(tmp_path, "study2")
    assert len(loaded["assessments"]) == 10
    warning = next(r.getMessage() for r in caplog.records if "assessments.csv" in r.getMessage())
    assert "data rows 3, 6, 10 (3 rows in total)" in warning and "no row in the sessions table" in warning


def test_inconsistent_review_percentage_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        load(tmp_path, "study2", set_cell("sessions", "review_percentage", "90", row=0))
    assert any("column 'review_percentage', data row 1" in r.getMessage() for r in caplog.records)


def test_empty_file(tmp_path):
    paths = write_study(tmp_path, study1_frames())
    paths["clients"].write_bytes(b"")
    with pytest.raises(InputError, match=r"clients\.csv: the file is empty \(0 bytes\)"):
        load_study("study1", paths)


def test_header_only_file(tmp_path):
    paths = write_study(tmp_path, study1_frames())
    paths["sessions"].write_text("session_id,client_id,ebp,caregiver_present,ebp_fit,stressful_event,homework\n")
    with pytest.raises(InputError, match=r"sessions\.csv: the file has a header but no data rows"):
        load_study("study1", paths)


def test_duplicated_header_name(tmp_path):
    paths = write_study(tmp_path, study1_frames())
    paths["therapists"].write_text("therapist_id,licensed,licensed\nT1,yes,no\n")
    with pytest.raises(InputError, match="therapists.csv.*'licensed'.* more than once"):
        load_study("study1", paths)


def test_missing_file_and_missing_table(tmp_path):
    paths = write_study(tmp_path, study1_frames())
    paths["clients"] = tmp_path / "nope.csv"
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        load_study("study1", paths)
    del paths["clients"]
    with pytest.raises(InputError, match="no file given for the 'clients' table"):
        load_study("study1", paths)


def test_all_problems_reported_together(tmp_path):
    def edit(tables):
        tables["sessions"].loc[0, "homework"] = "maybe"
        tables["therapists"].loc[1, "n_ebps_trained"] = "-1"

    message = error(tmp_path, "study1", edit)
    assert message.startswith("2 problems in the input tables:")
    assert "sessions.csv, column 'homework', data row 1" in message
    assert "therapists.csv, column 'n_ebps_trained', data row 2" in message


# ------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".md"])
def test_write_table_atomic_by_suffix(tmp_path, suffix):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = write_table(df, tmp_path / "out" / f"table{suffix}")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files left
    if suffix == ".md":
        assert path.read_text().startswith("|")
    else:
        pd.testing.assert_frame_equal(read_table(path), df, check_dtype=False)


def test_write_table_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    before = path.read_text()

    def broken(self, target, **kwargs):
        Path(target).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError):
        write_table(pd.DataFrame({"a": [2]}), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


# -------------------------------------------------------------------------- documentation


def test_contract_markdown_documents_every_column():
    text = contract_markdown()
    for study, contract in STUDIES.items():
        assert f"## {study}" in text
        for table in contract.values():
            for column in table.columns:
                assert f"| `{column.name}`" in text


def test_config_readme_documents_the_contract_as_generated():
    """config/README.md's input-contract section is contract_markdown() (title dropped, headings
    one level down), so the documented contract never drifts from the enforced one."""
    readme = (ROOT / "config" / "README.md").read_text()
    block = readme.split("<!-- contract:start -->\n")[1].split("\n<!-- contract:end -->")[0]
    body = contract_markdown().split("\n", 1)[1].strip()
    expected = "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines())
    assert block == expected, "regenerate the contract section of config/README.md from contract_markdown()"


# ------------------------------------------------------------------------------- privacy


def test_pseudonyms_are_stable_prefixed_and_consistent(tmp_path):
    tables = load(tmp_path, "study2")
    first = pseudonymise(tables, "study2", "s3cret")
    again = pseudonymise(tables, "study2", "s3cret")
    for name in tables:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert first["therapists"]["therapist_id"].str.fullmatch(r"T-[0-9a-f]{10}").all()
    assert first["therapists"]["organisation_id"].str.fullmatch(r"O-[0-9a-f]{10}").all()
    assert first["sessions"]["session_id"].str.fullmatch(r"S-[0-9a-f]{10}").all()
    assert first["assessments"]["client_id"].str.fullmatch(r"C-[0-9a-f]{10}").all()
    # Same raw ID -> same pseudonym in every table, so the foreign keys still join.
    assert set(first["sessions"]["client_id"]) <= set(first["clients"]["client_id"])
    assert set(first["clients"]["therapist_id"]) <= set(first["therapists"]["therapist_id"])
    import hashlib
    import hmac

    expected = "C-" + hmac.new(b"s3cret", b"C1", hashlib.sha256).hexdigest()[:10]
    assert first["clients"].loc[0, "client_id"] == expected
    other = pseudonymise(tables, "study2", "other salt")
    assert other["clients"].loc[0, "client_id"] != expected
    assert tables["clients"].loc[0, "client_id"] == "C1"  # inputs untouched


def test_no_raw_id_survives_pseudonymisation(tmp_path):
    for study in ("study1", "study2"):
        tables = load(tmp_path / study, study)
        raw = {
            v for name, df in tables.items() for c in STUDIES[study][name].columns if c.kind == "id" for v in df[c.name]
        }
        masked = pseudonymise(tables, study, "salt")
        for df in masked.values():
            cells = set(df.astype("str").to_numpy().ravel())
            assert not cells & raw


def test_empty_salt_is_refused(tmp_path):
    with pytest.raises(ValueError, match="salt"):
        pseudonymise(load(tmp_path), "study1", "")


# ----------------------------------------------------------------------------------- speed

WRITE_SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from fixtures_tables import big_study1, big_study2, write_study

study, n, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
paths = write_study(folder, (big_study1 if study == "study1" else big_study2)(n))
print(json.dumps({{table: str(path) for table, path in paths.items()}}))
"""

SPEED_SCRIPT = """
import json, sys, time
from pathlib import Path
from homeworkflow.data.validate import load_study
from homeworkflow.data.privacy import pseudonymise
from homeworkflow.data.clean import clean_study1, clean_study2
from homeworkflow.data.features import study1_sessions, study2_sessions, study2_intervals


def peak_rss_mb():
    # VmHWM is this process image's own peak; ru_maxrss would carry over the forking parent's.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


study, paths = sys.argv[1], {{table: Path(path) for table, path in json.loads(sys.argv[2]).items()}}
start = time.perf_counter()
tables = load_study(study, paths)
loaded = time.perf_counter()
tables = pseudonymise(tables, study, "salt")
masked = time.perf_counter()
if study == "study1":
    tables, flow = clean_study1(tables)
    df, scaling = study1_sessions(tables, {{"ebp": "MAP"}}, ["child_age", "ebp_fit"])
    rows = len(df)
else:
    tables, flow = clean_study2(tables)
    rows = len(study2_sessions(tables))
    for outcome in ("phq9", "gad7"):
        study2_intervals(tables, outcome, 10.0)
end = time.perf_counter()
print(json.dumps({{"rows": rows, "read_validate_s": loaded - start, "pseudonymise_s": masked - loaded,
                  "clean_features_s": end - masked, "total_s": end - start, "peak_rss_mb": peak_rss_mb()}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("study", ["study1", "study2"])
def test_one_million_sessions_within_memory(tmp_path, study):
    """Scale: 1e6 sessions go through every pre-model stage in under 2 GB (time: bench/). The
    files are written by one process and processed by a fresh one, whose own peak is measured."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def python(script: str, *args: str) -> str:
        path = tmp_path / f"{script}.py"
        path.write_text(textwrap.dedent(globals()[script].format(tests=str(ROOT / "tests"))))
        done = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, env=env, check=True)
        return done.stdout.strip().splitlines()[-1]

    paths = python("WRITE_SCRIPT", study, "1000000", str(tmp_path / "data"))
    result = json.loads(python("SPEED_SCRIPT", study, paths))
    print(study, result)
    assert result["rows"] == 1_000_000
    assert result["peak_rss_mb"] < 2048


def test_write_markdown_text_and_json(tmp_path):
    from homeworkflow.util.io import write_json

    path = write_table("| a |\n|---|\n| 1 |", tmp_path / "t.md")
    assert path.read_text() == "| a |\n|---|\n| 1 |\n"
    path = write_json({"mean": np.float64(1.5), "n": np.int64(3), "xs": np.arange(2)}, tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"mean": 1.5, "n": 3, "xs": [0, 1]}
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["s.json", "t.md"]


def test_column_schemas_are_the_contracts_columns():
    """Every contract column's pandera schema (data/schemas.py) rejects what the contract forbids:
    a level outside its list, a number outside its range, a missing value where none is allowed."""
    import pandera.pandas as pa

    from homeworkflow.data.contract import STUDIES
    from homeworkflow.data.schemas import column_schema, failing_rows

    checked = 0
    for contract in STUDIES.values():
        for table in contract.values():
            for column in table.columns:
                schema = column_schema(column)
                assert list(schema.columns) == [column.name]
                assert schema.columns[column.name].nullable == column.nullable
                bad = []
                if column.levels is not None and column.kind in ("id", "category"):
                    bad.append(pd.Series(["not a level"], dtype="str"))
                if column.kind in ("int", "float") and column.max is not None:
                    bad.append(pd.Series([column.max + 1.0]))
                if column.kind in ("int", "float") and column.min is not None:
                    bad.append(pd.Series([column.min - 1.0]))
                if not column.nullable:
                    bad.append(pd.Series([None], dtype="object"))
                for values in bad:
                    with pytest.raises(pa.errors.SchemaErrors):
                        schema.validate(values.rename(column.name).to_frame(), lazy=True)
                    [(reason, mask)] = failing_rows(column, values, 1)
                    assert mask.tolist() == [True] and reason
                    checked += 1
    assert checked > 40
