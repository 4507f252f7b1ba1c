"""The bad-input corpus (tests/bad_inputs/cases.py) through the package and the real workflow.

Each case is a test twice:

- **package level** (fast, every case): the rule scripts' code path without Snakemake
  (`load_study` -> `pseudonymise` -> clean -> features; for model cases `read_table` with the
  config's missing codes -> `ModelSpec` -> `build_design`, the checks `fit_model` runs before
  sampling; for config cases the config schema). The error text names file, column, rows and
  reason; a handled case succeeds, logs its handling and the cleaned tables are right.
- **workflow level** (`slow`, every case on its own): Snakemake in a scratch directory, the study's
  `source: files` pointing at the case's files (or a `models:` entry whose `data:` is the case's
  file), built up to the failing rule's target. It must exit non-zero, the job's log or
  Snakemake's stderr must carry the same message, and no output of the failed job (nor any
  hidden temporary file) may be left; a handled case must succeed with its handling in the log.

A fast workflow-level subset (`make test`) runs the representative cases marked `fast` in a few
batched invocations: several cases' files in one run (both studies, several models), built with
`--keep-going`.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from bad_inputs.cases import BY_ID, CASE_IDS, CASES, Case, FileFormat, Written, workflow_config, write_case
from workflow_runner import ROOT, RunResult, run_workflow, tiny_config

from homeworkflow.data.clean import clean_study1, clean_study2
from homeworkflow.util.config import model_settings
from homeworkflow.data.descriptives import table1_study1, table1_study2
from homeworkflow.data.features import study1_sessions, study2_intervals, study2_sessions
from homeworkflow.util.io import read_table
from homeworkflow.models import ModelSpec
from homeworkflow.models.spec.formula import build_design
from homeworkflow.data.privacy import pseudonymise
from homeworkflow.data.validate import load_study

DEFAULT_CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
STUDY_DIRS = ("clean", "analysis")
STAGES = ["clean", "features", "study_model"]


def test_corpus_covers_the_issue():
    """At least 25 cases, over both studies, model data and config, each with an expectation."""
    kinds = {c.kind for c in CASES}
    assert len(CASES) >= 25 and kinds == {"study1", "study2", "model", "config"}
    assert len(set(CASE_IDS)) == len(CASE_IDS)
    for case in CASES:
        assert case.outcome in ("error", "handled")
        assert case.expect if case.outcome == "error" else case.log, case.id
    documented = (ROOT / "docs" / "reliability.md").read_text()
    assert [c for c in CASE_IDS if f"`{c}`" not in documented] == []


# ------------------------------------------------------------------------------ package level


def run_package(case: Case, written: Written) -> dict | None:
    """The rule scripts' path for the case; returns the cleaned tables of a study case."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    if case.config_edit is not None:
        case.config_edit(config)
    if case.kind == "config":
        from snakemake.utils import validate

        validate(config, str(ROOT / "config" / "schema.yaml"), set_default=True)
        return None
    codes = config["missing_codes"]
    if case.kind == "model":
        config["models"][case.model_name] = written.model
        spec = ModelSpec.from_config(case.model_name, model_settings(config, case.model_name))
        data = read_table(written.files["data"], missing_codes=codes)
        build_design(data, spec.formula, spec.family, spec.reference_levels, spec.outcome_levels)
        return None
    study = case.study
    tables = load_study(study, written.files, missing_codes=codes)
    tables = pseudonymise(tables, study, config["privacy"]["salt"])
    tables, _ = (clean_study1 if study == "study1" else clean_study2)(tables)
    min_cell = config["privacy"]["min_cell"]
    if study == "study1":
        study1_sessions(tables, config["study1"]["reference_levels"], config["study1"]["centre"])
        table1_study1(tables, min_cell=min_cell)
    else:
        study2_sessions(tables)
        intervals = {
            o: study2_intervals(tables, o, config["study2"]["baseline_centre"][o])[0] for o in ("phq9", "gad7")
        }
        table1_study2(tables, min_cell=min_cell)
        if case.stage == "study_model":
            name = config["study2"]["outcome_models"]["phq9"]
            spec = ModelSpec.from_config(name, model_settings(config, name))
            build_design(intervals["phq9"], spec.formula, spec.family, spec.reference_levels)
    return tables


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_package_level(case_id, tmp_path, caplog):
    case = BY_ID[case_id]
    written = write_case(case, tmp_path / "input")
    caplog.set_level(logging.INFO)
    if case.outcome == "error":
        with pytest.raises((ValueError, WorkflowError)) as info:
            run_package(case, written)
        message = str(info.value)
        for text in case.package_expect or case.expect:
            assert text in message, f"{case.id}: {text!r} not in:\n{message}"
        for text in case.log:
            assert text in caplog.text, f"{case.id}: {text!r} not logged:\n{caplog.text}"
        return
    tables = run_package(case, written)
    for text in case.log:
        assert text in caplog.text, f"{case.id}: {text!r} not logged:\n{caplog.text}"
    if case.check is not None:
        case.check(tables)


# ----------------------------------------------------------------------------- workflow level


def combine(cases: list[Case], directory: Path) -> list[Written]:
    """Write several cases; cases of the same study are merged into one file set."""
    written, by_study = [], {}
    for case in cases:
        if case.study is None:
            written.append(write_case(case, directory / case.id))
        else:
            by_study.setdefault(case.study, []).append(case)
    for study, group in by_study.items():
        formats: dict[str, FileFormat] = {}
        for case in group:
            clash = set(formats) & set(case.formats)
            assert not clash, f"cases {[c.id for c in group]} both set the format of {clash}"
            formats.update(case.formats)

        outcomes = {c.outcome for c in group}
        assert len(outcomes) == 1, "handled and failing cases of one study cannot share a run"

        def edit(tables, group=group):
            for case in group:
                if case.edit is not None:
                    case.edit(tables)

        def config_edit(config, group=group):
            for case in group:
                if case.config_edit is not None:
                    case.config_edit(config)

        merged = Case(
            "+".join(c.id for c in group),
            "combined",
            study,
            outcomes.pop(),
            group[0].rule,
            (),
            edit=edit,
            formats=formats,
            config_edit=config_edit,
            missing_file=any(c.missing_file for c in group),
            stage=max((c.stage for c in group), key=STAGES.index),
        )
        written.append(write_case(merged, directory / study))
    return written


def batch_config(written: list[Written], run: str) -> tuple[dict, list[str]]:
    config, targets = tiny_config(run), []
    for w in written:
        config, more = workflow_config(w, config)
        targets += more
    return config, targets


def message_of(result: RunResult, case: Case) -> str:
    log = result.log(case.rule) if case.rule else ""
    return log + "\n" + result.output


def leftover_outputs(result: RunResult, case: Case) -> list[Path]:
    """Files a failed case's job(s) must not have left behind."""
    if case.rule is None:  # nothing may have run at all
        return result.files("") if result.results.exists() else []
    if case.kind == "model" or case.stage == "study_model":
        name = case.model_name if case.kind == "model" else case.rule.removeprefix("fit_model_")
        return result.files(f"models/{name}")
    study = case.study
    dirs = ("analysis",) if case.stage == "features" else STUDY_DIRS
    leftovers = [p for d in dirs for p in result.files(f"{study}/{d}")]
    leftovers += [result.results / study / f for f in ("flow.csv", "table1.csv", "table1.md")]
    return [p for p in leftovers if p.exists()]


def hidden_temporaries(result: RunResult) -> list[Path]:
    return [p for p in result.files("") if p.name.startswith(".") and p.name.endswith(".tmp")]


def clean_tables(result: RunResult, study: str) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in (result.results / study / "clean").glob("*.parquet")}


def assert_case(result: RunResult, case: Case, expect_exit_failure: bool) -> None:
    """One case's expectations on a (possibly batched) workflow run."""
    if case.outcome == "error":
        assert result.returncode != 0, result.describe()
        message = message_of(result, case)
        for text in case.expect + case.log:
            assert text in message, f"{case.id}: {text!r} not in the log or stderr\n{result.describe()}"
        if case.kind == "model":  # Snakemake's error block names the job's input file
            assert "data.csv" in result.output, result.describe()
        assert leftover_outputs(result, case) == [], f"{case.id}: outputs left behind\n{result.describe()}"
    else:
        if not expect_exit_failure:
            assert result.returncode == 0, result.describe()
        log = result.log(case.rule)
        for text in case.log:
            assert text in log, f"{case.id}: {text!r} not in {case.rule}.log\n{result.describe()}"
        if case.check is not None:
            case.check(clean_tables(result, case.study))
        if case.study is not None:
            assert (result.results / case.study / "table1.csv").exists(), result.describe()
        else:
            assert (result.results / "models" / case.model_name / "summary.csv").exists(), result.describe()
    assert hidden_temporaries(result) == [], result.describe()


def run_batch(tmp: Path, cases: list[Case], run: str = "bad", cores: int = 2) -> RunResult:
    written = combine(cases, tmp / "input")
    config, targets = batch_config(written, run)
    extra = ["--keep-going", "--set-threads", "fit_model=1"]
    return run_workflow(tmp / "work", config, targets, cores=cores, extra=extra)


FAST_BATCHES = {
    # handled: BOM (therapists), `;` with decimal comma and missing codes (clients), extra column (study 2)
    "handled": ["s1_bom", "s1_semicolon", "s1_missing_codes", "s2_extra_column"],
    # cell errors reported together; an empty Study 2 file
    "cells": ["s1_misspelled_column", "s1_wrong_type", "s1_outcome_third_value", "s2_empty_file"],
    # Latin-1 (handled) beside a Study 2 range error
    "latin1": ["s1_latin1", "s2_out_of_range_score"],
    # relations, and a model failing before sampling (retried per `retries:`, then reported)
    "relations_model": ["s1_orphan_foreign_key", "m_formula_missing_column"],
    "config": ["c_wrong_type"],
}


def test_fast_batches_cover_the_fast_cases():
    batched = [c for batch in FAST_BATCHES.values() for c in batch]
    assert sorted(batched) == sorted(c.id for c in CASES if c.fast)


@pytest.mark.parametrize("batch", list(FAST_BATCHES))
def test_fast_subset_through_the_workflow(batch, tmp_path):
    cases = [BY_ID[c] for c in FAST_BATCHES[batch]]
    result = run_batch(tmp_path, cases)
    any_error = any(c.outcome == "error" for c in cases)
    for case in cases:
        assert_case(result, case, expect_exit_failure=any_error)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.kind != "model"])
def test_case_through_the_workflow(case_id, tmp_path):
    case = BY_ID[case_id]
    result = run_batch(tmp_path, [case], cores=1)
    assert_case(result, case, expect_exit_failure=False)


@pytest.fixture(scope="module")
def model_cases_run(tmp_path_factory):
    """Every model case in one invocation: independent jobs, `--keep-going`, two at a time."""
    tmp = tmp_path_factory.mktemp("model_cases")
    cases = [c for c in CASES if c.kind == "model"]
    return run_batch(tmp, cases, run="models")


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.kind == "model"])
def test_model_case_through_the_workflow(case_id, model_cases_run):
    assert_case(model_cases_run, BY_ID[case_id], expect_exit_failure=True)
